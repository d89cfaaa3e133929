"""Reading one observation: which vendors it names, with what weight and fields (the per-kind logic).

Each observation becomes zero or more Findings. The weights are explicit and live here, in one table: an identity
statement (banner, certificate, SNMP, OT identity object) weighs more than a NIC's MAC prefix. The engine (engine.py)
combines the findings of all observations of one device.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fingerprints.aliases import AliasIndex, name_key, normalise
from fingerprints.catalogue import Catalogue, Vendor
from fingerprints.countries import country_of_place_in
from fingerprints.registries.nmap_probes import NmapDatabase, NmapMatch
from fingerprints.registries.oui import OuiRegistry
from fingerprints.registries.pen import enterprise_number
from fingerprints.rules import MAX_INPUT, RuleSet

#: Weights per source of evidence (0-1). Why: an identity a device states about itself outweighs the maker of
#: its network chip; free-text mentions of a name are weaker than a field that holds the manufacturer's name.
WEIGHTS: dict[str, float] = {
    "catalogue-id": 0.9,  # ODVA / BACnet vendor id, catalogue PEN
    "pen-registry": 0.7,  # IANA PEN registrant resolved to a catalogue vendor
    "pen-ieee-country": 0.35,  # IANA PEN registrant not in the catalogue; country from IEEE registrations of the name
    "pen-place-country": 0.3,  # ... country only from a city or province in its registered name (data/places.tsv)
    "pen-unknown": 0.3,  # IANA PEN registrant not in the catalogue (name only, no country)
    "cpe-device": 0.85,
    "cpe-software": 0.5,
    "nmap-device": 0.75,
    "nmap-software": 0.5,
    "name-field": 0.85,  # upnp.manufacturer, modbus.vendor, s7.vendor: the field *is* the maker's name
    "tls-subject-o": 0.7,
    "tls-issuer-o": 0.6,
    "tls-cn": 0.45,
    "alias-identity": 0.7,  # sysDescr, LLDP/CDP, host DMI: descriptions a device writes about itself
    "alias-banner": 0.55,
    "alias-weak": 0.4,  # DHCP host names, mDNS: user-editable
    "favicon": 0.6,  # a favicon hash from nmap's database: the web interface's product, usually the maker's
    "mac-oui": 0.35,
    "mac-oui-unknown": 0.25,  # registrant not in the catalogue: its address country, said to be weak
}

NAME_FIELD_KINDS = frozenset({"upnp.manufacturer", "modbus.vendor", "s7.vendor"})
IDENTITY_KINDS = frozenset({"snmp.sysdescr", "lldp.sysdesc", "cdp.platform", "host.hardware",
                            "enip.product", "profinet.device", "bacnet.model", "modbus.product", "s7.module",
                            "upnp.model", "nmap.service", "nmap.os"})
#: Banners in which a device names its maker first ("220 SHARP MX-6200N Ver 01.02.00 FTP server.").
#: Not http.title: a page title is written by whoever runs the site ("Juniper SRX240H review"), not by the device.
LEADING_BANNER_KINDS = frozenset({"ftp.banner", "telnet.banner", "smtp.banner", "rtsp.server",
                                  "sip.server", "sip.user_agent", "upnp.server", "http.server"})
WEAK_ALIAS_KINDS = frozenset({"dhcp.hostname", "lldp.sysname", "mdns.device_info", "mdns.service", "dhcp.vendor_class"})
COMPONENT_KINDS = {"host.pci": "component", "host.usb": "component", "host.package": "software"}
SOFTWARE_CATEGORIES = frozenset({"software", "os", "cloud", "security-software"})
#: Kinds that describe the hardware itself (who built the box), not the software on it.
HARDWARE_KINDS = frozenset({"mac", "host.hardware", "host.pci", "host.usb", "upnp.manufacturer", "upnp.model",
                            "mdns.device_info", "modbus.vendor", "enip.vendor_id", "bacnet.vendor_id",
                            "profinet.vendor_id"})
# Public certificate authorities sign other people's certificates: their name says nothing about the device.
_PUBLIC_CA_WORDS = ("let's encrypt", "digicert", "sectigo", "comodo", "globalsign", "entrust", "godaddy",
                    "go daddy", "isrg", "geotrust", "thawte", "verisign", "quovadis", "google trust",
                    "amazon", "microsoft corporation", "buypass", "certum", "actalis", "harica", "zerossl")

#: kind -> (nmap services whose patterns apply, how to rebuild the response nmap's patterns expect)
NMAP_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "ssh.banner": (("ssh",), "{v}\r\n"),
    "ftp.banner": (("ftp",), "{v}\r\n"),
    "smtp.banner": (("smtp",), "{v}\r\n"),
    "telnet.banner": (("telnet",), "{v}"),
    "http.server": (("http", "http-proxy"), "HTTP/1.1 200 OK\r\nServer: {v}\r\n\r\n"),
    "http.www_authenticate": (("http",), "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {v}\r\n\r\n"),
    "rtsp.server": (("rtsp",), "RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: {v}\r\n\r\n"),
    "sip.server": (("sip",), "SIP/2.0 200 OK\r\nServer: {v}\r\n\r\n"),
    "sip.user_agent": (("sip",), "SIP/2.0 200 OK\r\nUser-Agent: {v}\r\n\r\n"),
    "upnp.server": (("upnp", "http"), "HTTP/1.1 200 OK\r\nSERVER: {v}\r\n\r\n"),
}
NMAP_MAX_INPUT = 2048
_CPE_RE = re.compile(r"^cpe:(?:/|2\.3:)([aho]):([^:\s]+)(?::([^:\s]*))?(?::([^:\s]*))?", re.IGNORECASE)
_PROFINET_ID_RE = re.compile(r"^\s*(?:0x)?([0-9a-f]{1,4})(?:\s*:\s*(?:0x)?([0-9a-f]{1,4}))?\s*$", re.IGNORECASE)
_DN_ATTR_RE = re.compile(r"(?:^|[,/+;])\s*(O|OU|CN)\s*=\s*((?:\\.|[^,/+;\\])*)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """What one observation says about one vendor."""

    kind: str
    value: str
    rule_id: str
    weight: float
    conclusion: str
    vendor_id: str | None = None
    name: str | None = None  # display name when the vendor is not in the catalogue
    country: str | None = None  # registrant country for vendors not in the catalogue
    role: str = "device"  # device, component, software, os
    weak: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


def clean_value(value: object) -> str:
    """A bounded, printable-enough string from whatever an observation carried (bytes, junk, huge text)."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: MAX_INPUT * 4]).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value[: MAX_INPUT * 4]
        # Lone surrogates (from surrogateescape decoding of invalid UTF-8) break encoding later; replace them.
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    else:
        text = str(value)[:MAX_INPUT]
    return text.replace("\x00", " ")[:MAX_INPUT].strip()


class Analyser:
    """Per-kind reading of observations against one catalogue, rule set and set of registries."""

    def __init__(self, cat: Catalogue, aliases: AliasIndex, rules: RuleSet,
                 nmap: NmapDatabase | None | Callable[[], NmapDatabase | None],
                 oui: OuiRegistry | None | Callable[[], OuiRegistry | None],
                 pens: Mapping[int, str] | None | Callable[[], Mapping[int, str] | None]) -> None:
        self.cat, self.aliases, self.rules = cat, aliases, rules
        # Registries may be given as loaders: each is loaded on its first use, so identifying an HTTP title
        # never waits for the OUI table or nmap's database.
        self._loaders: dict[str, Any] = {"nmap": nmap, "oui": oui, "pens": pens}
        self._loaded: dict[str, Any] = {}

    def _registry(self, name: str) -> Any:
        if name not in self._loaded:
            source = self._loaders[name]
            self._loaded[name] = source() if callable(source) else source
        return self._loaded[name]

    @property
    def nmap(self) -> NmapDatabase | None:
        db: NmapDatabase | None = self._registry("nmap")
        return db

    @property
    def oui(self) -> OuiRegistry | None:
        reg: OuiRegistry | None = self._registry("oui")
        return reg

    @property
    def pens(self) -> Mapping[int, str] | None:
        table: Mapping[int, str] | None = self._registry("pens")
        return table

    def _ieee_country(self, name: str) -> tuple[str, int, int] | None:
        """The IEEE registrations' country for an organisation name, when the name is distinctive enough to join
        on: two words or more once legal forms are dropped, or one of at least 8 letters ("ProSoft" and "CT" are
        several companies in several countries)."""
        key = name_key(name)
        if " " not in key and len(key) < 8:
            return None
        return self.registrant_countries.get(key)

    @functools.cached_property
    def registrant_countries(self) -> dict[str, tuple[str, int, int]]:
        """Organisation name key -> country, from the IEEE registrations (for registrants of other registries)."""
        return self.oui.registrant_countries(name_key) if self.oui is not None else {}

    # ---- helpers
    def _role_for(self, vendor: Vendor | None, default: str, kind: str = "") -> str:
        if vendor is not None and default == "device" and "platform" in vendor.categories and \
                kind not in HARDWARE_KINDS:
            return "os"  # "Microsoft-WinCE" in an SSDP header: the device's OS, whoever built the device
        if default == "platform" or (vendor is not None and default in ("software", "os")
                                     and "platform" in vendor.categories):
            return default  # o:microsoft:windows under "Serv-U FTP Server": the host's OS, not the product's maker
        if vendor is not None and default in ("software", "os") and not set(vendor.categories) <= SOFTWARE_CATEGORIES:
            return "device"  # a CPE like o:cisco:ios names the device's maker, not only its software
        if vendor is not None and default == "device" and set(vendor.categories) and set(vendor.categories) <= \
                SOFTWARE_CATEGORIES:
            return "software"
        return default

    def _vendor_finding(self, kind: str, value: str, vendor_id: str, rule_id: str, weight: float, how: str,
                        role: str = "device", fields: dict[str, str] | None = None, weak: bool = False,
                        keep_role: bool = False) -> Finding:
        vendor = self.cat.get(vendor_id)
        resolved = role if keep_role else self._role_for(vendor, role, kind)
        if role in ("software", "os") and resolved == "device":
            weight = max(weight, WEIGHTS["nmap-device"])  # e.g. CPE a:cisco:ssh names the device's maker
        role = resolved
        name = vendor.short if vendor else vendor_id
        return Finding(kind, value, rule_id, weight, f"{how} → {name}", vendor_id=vendor_id if vendor else None,
                       name=name, role=role, weak=weak, fields=dict(fields or {}))

    def _former(self, registrant: str) -> str:
        """ "; a former name until 2008-03-10, renamed NetApp, Inc." when a registry still carries an old name."""
        old = self.cat.former_name(registrant)
        if old is None:
            return ""
        until = f" until {old.until.isoformat()}" if old.until else ""
        note = f", {old.note}" if old.note else ""
        return f"; a former name{until}{note}"

    def _resolve(self, text: str) -> str | None:
        return self.aliases.resolve_name(text)

    # ---- entry point
    def analyse(self, kind: str, raw: object) -> tuple[list[Finding], str | None]:
        """Findings for one observation, and a reason when it could not be read at all."""
        value = clean_value(raw)
        if not value:
            return [], f"{kind}: empty value"
        findings: list[Finding] = []
        special = getattr(self, "_kind_" + kind.replace(".", "_"), None)
        if special is not None:
            problem = special(kind, value, findings)
            if problem:
                # The registry does not know the number, but a curated rule may ("1.3.6.1.4.1.1004849." is
                # Dahua's MIB under a number IANA never assigned): the problem stands only if no rule reads it.
                self._apply_rules(kind, value, findings)
                return findings, (None if findings else problem)
        self._apply_rules(kind, value, findings)
        if kind in NMAP_KINDS and not any(f.weight >= 0.85 and f.role == "device" for f in findings):
            # A curated rule already read this banner as a device identity: nmap's database adds nothing more.
            self._apply_nmap(kind, value, findings)
        self._apply_aliases(kind, value, findings)
        return findings, None

    # ---- generic sources
    def _apply_rules(self, kind: str, value: str, findings: list[Finding]) -> None:
        lowered = value.lower()
        for rule in self.rules.by_kind.get(kind, ()):
            prefilter = rule.prefilter  # inline: most rules are ruled out by one substring test
            if prefilter is not None:
                literals, icase = prefilter
                text = lowered if icase else value
                for literal in literals:
                    if literal in text:
                        break
                else:
                    continue
            out = rule.extract(value)
            if out is None:
                continue
            fields = {k: v for k, v in out.items() if k != "vendor"}
            vendor_text = out.get("vendor")
            vid = None
            if vendor_text:
                vid = vendor_text if self.cat.get(vendor_text) else self._resolve(vendor_text)
            if vid is None and not vendor_text:
                if fields:  # a rule that only extracts fields (e.g. firmware) lends them to the chosen vendor
                    findings.append(Finding(kind, value, rule.id, 0.0, f"fields {sorted(fields)}", role="fields",
                                            fields=fields))
                continue
            if vid is None:
                if vendor_text:
                    findings.append(Finding(kind, value, rule.id, rule.confidence * 0.5,
                                            f"rule names {vendor_text!r}, not in the catalogue", name=vendor_text,
                                            role=rule.role, fields=fields))
                continue
            findings.append(self._vendor_finding(kind, value, vid, rule.id, rule.confidence, f"rule {rule.id}",
                                                 role=rule.role, fields=fields))

    def _apply_nmap(self, kind: str, value: str, findings: list[Finding]) -> None:
        if self.nmap is None:
            return
        services, template = NMAP_KINDS[kind]
        # Some nmap patterns are quadratic (.*? then a literal); real banners are short, so 2 KiB bounds them.
        value = value[:NMAP_MAX_INPUT]
        if template.endswith("\n"):
            value = value.rstrip("\r\n")
        prefix, _, suffix = template.partition("{v}")
        text = prefix + value + suffix
        hit = self.nmap.match(services, text, (len(prefix), len(prefix) + len(value)))
        if hit is None:
            return
        self._nmap_findings(kind, value, hit, f"nmap-service-probes:{hit.line}", findings)

    def _nmap_findings(self, kind: str, value: str, hit: NmapMatch, rule_id: str, findings: list[Finding]) -> None:
        fields = {k: v for k, v in (("product", hit.product), ("version", hit.version),
                                    ("device_type", hit.device_type)) if v}
        known = {f.vendor_id for f in findings if f.vendor_id}
        for cpe in hit.cpes:
            m = _CPE_RE.match("cpe:/" + cpe)
            if not m:
                continue
            part, cpe_vendor = m.group(1).lower(), m.group(2).lower()
            vid = self.cat.by_cpe.get(cpe_vendor) or self.aliases.whole.get(cpe_vendor.replace("_", " "))
            if vid and vid not in known:
                role = {"h": "device", "o": "os"}.get(part, "software")
                vendor = self.cat.get(vid)
                if part == "o" and vendor is not None and "platform" in vendor.categories and \
                        vid not in {v for v, _ in self.aliases.find_all(value)}:
                    # nmap knows the product runs on Windows; the banner does not say so. The host's platform is
                    # inferred, so the product's own maker (if named) comes first.
                    role = "platform"
                w = WEIGHTS["nmap-device"] if part == "h" else WEIGHTS["nmap-software"]
                findings.append(self._vendor_finding(kind, value, vid, rule_id, w, f"nmap match, CPE {cpe}",
                                                     role=role, fields=fields))
                known.add(vid)
        if hit.product:
            found = self.aliases.find(hit.product)
            if found and found[0] not in known:
                findings.append(self._vendor_finding(kind, value, found[0], rule_id, WEIGHTS["nmap-device"],
                                                     f"nmap match, product {hit.product!r}", fields=fields))

    def _apply_aliases(self, kind: str, value: str, findings: list[Finding]) -> None:
        if any(f.weight >= 0.75 and f.role == "device" for f in findings):
            return  # a rule or nmap already read the value as a device identity; names in it add nothing
        known = {f.vendor_id for f in findings if f.vendor_id}
        if kind in NAME_FIELD_KINDS:
            vid = self._resolve(value)
            if vid and vid not in known:
                findings.append(self._vendor_finding(kind, value, vid, "alias.name-field", WEIGHTS["name-field"],
                                                     "manufacturer field names"))
            return
        if kind in ("snmp.sysobjectid", "mac", "enip.vendor_id", "bacnet.vendor_id", "profinet.vendor_id",
                    "http.favicon_md5", "tls.subject", "tls.issuer", "nmap.cpe"):
            return
        if kind in COMPONENT_KINDS:
            role, weight, rule_id = COMPONENT_KINDS[kind], 0.6, f"alias.{kind}"
        elif kind in IDENTITY_KINDS:
            role, weight, rule_id = "device", WEIGHTS["alias-identity"], "alias.identity"
        elif kind in WEAK_ALIAS_KINDS:
            role, weight, rule_id = "device", WEIGHTS["alias-weak"], "alias.weak"
        else:
            role, weight, rule_id = "device", WEIGHTS["alias-banner"], "alias.text"
        hits = self.aliases.find_all(value)[:3]
        if (kind in IDENTITY_KINDS or kind in LEADING_BANNER_KINDS) and \
                (lead := self.aliases.leading(value, reply_code=kind in NMAP_KINDS)) is not None:
            hits.insert(0, lead)
        for vid, alias in hits:
            if vid in known:
                continue
            known.add(vid)
            product = self.aliases.products.get(alias)
            how = f"names {alias!r}" + ("" if product is None else " (product line)" if product == "device"
                                        else f" ({product} product)")
            here = product if role == "device" and product in ("software", "os") else None
            # A device product line is more specific than a company name in the same text: "Hewlett-Packard
            # Company J4139A HP ProCurve Routing Switch" is HPE's ProCurve, not HP Inc.'s.
            w = min(weight + 0.1, 0.8) if product == "device" else weight
            findings.append(self._vendor_finding(kind, value, vid, rule_id, w, how, role=here or role,
                                                 weak=kind in WEAK_ALIAS_KINDS, keep_role=here is not None))

    # ---- kinds with their own registries
    def _kind_mac(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        digits = re.sub(r"[-:.\s]", "", value).lower()
        if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
            return f"mac: {value[:40]!r} is not a MAC address (expected 12 hex digits)"
        first = int(digits[:2], 16)
        if first & 0x01:
            return "mac: a multicast address names no vendor"
        if first & 0x02:
            return "mac: locally administered (randomised or virtual) address; the prefix names no vendor"
        if self.oui is None:
            return "mac: the IEEE OUI registry is not available (install netaddr or Debian's ieee-data)"
        reg = self.oui.lookup(digits)
        if reg is None:
            return f"mac: prefix {digits[:6].upper()} is not in the IEEE registries"
        vid = self._resolve(reg.organisation)
        if vid:
            vendor = self.cat.get(vid)
            role = "component" if vendor and vendor.is_component_maker else "device"
            findings.append(self._vendor_finding(
                kind, value, vid, f"oui.{reg.registry.lower()}", WEIGHTS["mac-oui"],
                f"{reg.registry} {reg.prefix} registered to {reg.organisation!r}{self._former(reg.organisation)}",
                role=role, weak=True))
        elif reg.country and reg.organisation.lower() != "private":
            findings.append(Finding(kind, value, f"oui.{reg.registry.lower()}", WEIGHTS["mac-oui-unknown"],
                                    f"{reg.registry} {reg.prefix} registered to {reg.organisation!r} ({reg.country});"
                                    " vendor not in the catalogue, registrant country used", name=reg.organisation,
                                    country=reg.country, weak=True))
        else:
            return f"mac: prefix {reg.prefix} is registered to {reg.organisation!r} with no country"
        return None

    def _kind_http_favicon_md5(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        digest = value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{32}", digest):
            return f"http.favicon_md5: {value[:60]!r} is not an MD5 digest (32 hex digits)"
        from fingerprints.registries.favicons import favicon_registry

        name = (favicon_registry() or {}).get(digest)
        if name is None:
            return None  # an unknown favicon says nothing; other evidence may
        # "Hikvision DVR", "Synology DiskStation Manager": the vendor is a name within the product name.
        vid = self._resolve(name) or next((v for v, _ in self.aliases.find_all(name)), None)
        if vid:
            findings.append(self._vendor_finding(kind, value, vid, "nmap.favicon-db", WEIGHTS["favicon"],
                                                 f"favicon of {name!r} in nmap's favicon database"))
        return None

    def _kind_snmp_sysobjectid(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        pen = enterprise_number(value)
        if pen is None:
            return f"snmp.sysobjectid: {value[:60]!r} is not an OID under 1.3.6.1.4.1 (enterprises)"
        vid = self.cat.by_pen.get(pen)
        if vid:
            registered = (self.pens or {}).get(pen)
            how = f"enterprise number {pen}" + (
                f" (registered to {registered!r}{self._former(registered)})" if registered else "")
            findings.append(self._vendor_finding(kind, value, vid, "pen.catalogue", WEIGHTS["catalogue-id"], how))
            return None
        name = (self.pens or {}).get(pen)
        if name is None:
            return f"snmp.sysobjectid: enterprise number {pen} is unknown"
        vid = self._resolve(name)
        if vid:
            findings.append(self._vendor_finding(kind, value, vid, "pen.iana", WEIGHTS["pen-registry"],
                                                 f"enterprise number {pen} registered to {name!r}"
                                                 f"{self._former(name)}"))
        elif (ieee := self._ieee_country(name)) is not None:
            country, n, total = ieee
            findings.append(Finding(kind, value, "pen.iana+ieee", WEIGHTS["pen-ieee-country"],
                                    f"enterprise number {pen} registered to {name!r}; not in the catalogue, country "
                                    f"{country} from the IEEE MAC registrations of the same name ({n} of {total})",
                                    name=name, country=country, weak=True))
        elif (placed := country_of_place_in(normalise(name))) is not None:
            place, country = placed
            findings.append(Finding(kind, value, "pen.iana+place", WEIGHTS["pen-place-country"],
                                    f"enterprise number {pen} registered to {name!r}; not in the catalogue, country "
                                    f"{country} inferred from the place name {place!r} in it", name=name,
                                    country=country, weak=True))
        else:
            findings.append(Finding(kind, value, "pen.iana", WEIGHTS["pen-unknown"],
                                    f"enterprise number {pen} registered to {name!r}; not in the catalogue",
                                    name=name, weak=True))
        return None

    def _id_lookup(self, kind: str, value: str, table: dict[int, str], what: str,
                   findings: list[Finding]) -> str | None:
        text = value.strip()
        if not text.isdigit() or len(text) > 6:
            return f"{kind}: {value[:40]!r} is not a decimal vendor id"
        vid = table.get(int(text))
        if vid is None:
            return f"{kind}: {what} vendor id {int(text)} is not in the catalogue"
        findings.append(self._vendor_finding(kind, value, vid, f"{what.lower()}.catalogue",
                                             WEIGHTS["catalogue-id"], f"{what} vendor id {int(text)}"))
        return None

    def _kind_enip_vendor_id(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        return self._id_lookup(kind, value, self.cat.by_odva, "ODVA", findings)

    def _kind_bacnet_vendor_id(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        return self._id_lookup(kind, value, self.cat.by_bacnet, "BACnet", findings)

    def _kind_profinet_vendor_id(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        m = _PROFINET_ID_RE.match(value)
        if m is None:
            return f"{kind}: {value[:40]!r} is not a PROFINET VendorID:DeviceID pair (0x002a:0x0313)"
        number, device = int(m.group(1), 16), m.group(2)
        vid = self.cat.by_profinet.get(number)
        if vid is None:
            return f"{kind}: PROFINET vendor id 0x{number:04x} is not in the catalogue"
        findings.append(self._vendor_finding(kind, value, vid, "profinet.catalogue", WEIGHTS["catalogue-id"],
                                             f"PROFINET vendor id 0x{number:04x} (device id {device or '?'})"))
        return None

    def _kind_nmap_cpe(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        for piece in value.split()[:8]:
            m = _CPE_RE.match(piece)
            if not m:
                continue
            part, cpe_vendor = m.group(1).lower(), m.group(2).lower()
            vid = self.cat.by_cpe.get(cpe_vendor) or self.aliases.whole.get(cpe_vendor.replace("_", " "))
            if not vid:
                continue
            fields = {"product": m.group(3).replace("_", " ")} if m.group(3) else {}
            if m.group(4) and m.group(4) not in ("-", "*"):
                fields["version"] = m.group(4)
            role = {"h": "device", "o": "os"}.get(part, "software")
            w = WEIGHTS["cpe-device"] if part == "h" else WEIGHTS["cpe-software"]
            findings.append(self._vendor_finding(kind, value, vid, f"cpe.{part}", w, f"CPE vendor {cpe_vendor!r}",
                                                 role=role, fields=fields))
            return None
        if not _CPE_RE.match(value.split()[0] if value.split() else ""):
            return f"nmap.cpe: {value[:60]!r} is not a CPE (cpe:/part:vendor:product…)"
        return None

    def _dn(self, kind: str, value: str, findings: list[Finding], o_weight: float) -> str | None:
        attrs = [(m.group(1).upper(), m.group(2).replace("\\", "").strip()) for m in _DN_ATTR_RE.finditer(value)]
        attrs.sort(key=lambda a: a[0] != "O")  # the organisation speaks for the maker more than a common name
        if not attrs:
            return None
        if any(attr == "O" and any(w in text.lower() for w in _PUBLIC_CA_WORDS) for attr, text in attrs):
            return None  # a public CA's certificate: its names say nothing about the device
        known: set[str] = set()
        for attr, text in attrs:
            if not text:
                continue
            if attr == "O":
                vid = self._resolve(text)
                weight, how = o_weight, f"certificate {attr}={text[:60]!r}"
            else:
                hit = self.aliases.find(text)
                vid = hit[0] if hit else None
                weight, how = WEIGHTS["tls-cn"], f"certificate {attr}={text[:60]!r}"
            if vid and vid not in known:
                known.add(vid)
                findings.append(self._vendor_finding(kind, value, vid, f"tls.{attr.lower()}", weight, how))
        return None

    def _kind_tls_subject(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        return self._dn(kind, value, findings, WEIGHTS["tls-subject-o"])

    def _kind_tls_issuer(self, kind: str, value: str, findings: list[Finding]) -> str | None:
        return self._dn(kind, value, findings, WEIGHTS["tls-issuer-o"])
