"""Parser of nmap XML output into plain records (hosts with findings); knows nothing about running nmap.

Mapping: every CPE → nmap.cpe; product/version/extrainfo → nmap.service; osclass → nmap.os; identity scripts
to protocol kinds (http-title, http-server-header, ssl-cert, banner, snmp-sysdescr, s7-info, enip-info,
bacnet-info, upnp-info, modbus-discover).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from agent.probes.base import Finding

_BANNER_KINDS = {"ssh": "ssh.banner", "ftp": "ftp.banner", "telnet": "telnet.banner", "smtp": "smtp.banner"}
_DN_KEYS = (
    ("commonName", "CN"),
    ("organizationalUnitName", "OU"),
    ("organizationName", "O"),
    ("localityName", "L"),
    ("stateOrProvinceName", "ST"),
    ("countryName", "C"),
)


@dataclass
class NmapHost:
    """One host nmap reported up."""

    ip: str
    mac: str | None = None
    mac_vendor: str | None = None
    hostnames: list[str] = field(default_factory=list)
    open_ports: list[tuple[int, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class NmapRun:
    hosts: list[NmapHost]
    args: str = ""
    elapsed: float = 0.0


def _elems(script: ET.Element) -> dict[str, str]:
    """Top-level <elem key=…> values of a script (tables flattened as 'table.key')."""
    out: dict[str, str] = {}

    def walk(node: ET.Element, prefix: str) -> None:
        for child in node:
            key = child.get("key")
            if child.tag == "elem" and key is not None and child.text:
                out[prefix + key] = child.text.strip()
            elif child.tag == "table":
                walk(child, prefix + (f"{key}." if key else ""))

    walk(script, "")
    return out


def _dn(elems: dict[str, str], prefix: str) -> str:
    """RFC 4514 order (most specific first) from nmap's ssl-cert subject/issuer table."""
    parts = []
    for key, short in _DN_KEYS:
        value = elems.get(f"{prefix}.{key}")
        if value:
            escaped = re.sub(r'([,+"\\<>;])', r"\\\1", value)
            parts.append(f"{short}={escaped}")
    return ",".join(parts)


def _script_findings(script: ET.Element, port: int | None, proto: str, service: str) -> list[Finding]:
    sid = script.get("id", "")
    output = (script.get("output") or "").strip()
    elems = _elems(script)
    src = f"nmap.{sid}"
    out: list[Finding] = []

    def add(kind: str, value: str | None) -> None:
        if value and value.strip():
            out.append(Finding(kind, " ".join(value.split()), port, proto, src))

    if sid == "http-title":
        add("http.title", elems.get("title") or (output if not output.startswith("Site doesn't") else None))
    elif sid == "http-server-header":
        add("http.server", output)
    elif sid == "ssl-cert":
        add("tls.subject", _dn(elems, "subject"))
        add("tls.issuer", _dn(elems, "issuer"))
    elif sid == "banner" and service in _BANNER_KINDS:
        add(_BANNER_KINDS[service], output.replace("\\x0D", "").replace("\\x0A", " "))
    elif sid == "snmp-sysdescr":
        add("snmp.sysdescr", output.split("\n  System uptime")[0])
    elif sid == "s7-info":
        add("s7.module", " ".join(v for v in (elems.get("Module Type"), elems.get("Module")) if v))
        add("s7.vendor", elems.get("Copyright"))
    elif sid == "enip-info":
        vendor = elems.get("Vendor") or elems.get("vendor") or ""
        match = re.search(r"\((\d+)\)\s*$", vendor)
        add("enip.vendor_id", match.group(1) if match else None)
        add("enip.product", elems.get("Product Name") or elems.get("productName"))
    elif sid == "bacnet-info":
        vendor_id = elems.get("Vendor ID", "")
        match = re.search(r"\((\d+)\)|^(\d+)$", vendor_id)
        add("bacnet.vendor_id", (match.group(1) or match.group(2)) if match else None)
        add("bacnet.model", " ".join(v for v in (elems.get("Vendor Name"), elems.get("Model Name")) if v))
    elif sid == "upnp-info":
        for line in output.splitlines():
            key, _, value = line.strip().partition(": ")
            kind = {
                "Server": "upnp.server",
                "Manufacturer": "upnp.manufacturer",
                "Model Name": "upnp.model",
            }.get(key)
            if kind:
                add(kind, value)
    elif sid == "modbus-discover":
        match = re.search(r"Device identification:\s*(.+)", output)
        add("modbus.product", match.group(1) if match else None)
    return out


def parse_nmap_xml(xml: bytes | str) -> NmapRun:
    """Parse one nmap XML document; raise ValueError when it is not nmap XML."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"not nmap XML: {exc}") from exc
    if root.tag != "nmaprun":
        raise ValueError("not nmap XML: the root element is not <nmaprun>")
    hosts: list[NmapHost] = []
    for host_el in root.findall("host"):
        status = host_el.find("status")
        if status is not None and status.get("state") != "up":
            continue
        host: NmapHost | None = None
        mac = vendor = None
        for addr in host_el.findall("address"):
            if addr.get("addrtype") in ("ipv4", "ipv6") and host is None:
                host = NmapHost(ip=addr.get("addr", ""))
            elif addr.get("addrtype") == "mac":
                mac, vendor = addr.get("addr"), addr.get("vendor")
        if host is None:
            continue
        host.mac, host.mac_vendor = mac, vendor
        host.hostnames = [h.get("name", "") for h in host_el.findall("hostnames/hostname") if h.get("name")]
        for port_el in host_el.findall("ports/port"):
            state = port_el.find("state")
            if state is None or state.get("state") not in ("open", "open|filtered"):
                continue
            port, proto = int(port_el.get("portid", "0")), port_el.get("protocol", "tcp")
            host.open_ports.append((port, proto))
            service = port_el.find("service")
            name = service.get("name", "") if service is not None else ""
            if service is not None:
                line = " ".join(
                    v for v in (service.get("product"), service.get("version"), service.get("extrainfo")) if v
                )
                if line:
                    host.findings.append(Finding("nmap.service", line, port, proto, "nmap"))
                for cpe in service.findall("cpe"):
                    if cpe.text:
                        host.findings.append(Finding("nmap.cpe", cpe.text.strip(), port, proto, "nmap"))
            for script in port_el.findall("script"):
                host.findings.extend(_script_findings(script, port, proto, name))
        for script in host_el.findall("hostscript/script"):
            host.findings.extend(_script_findings(script, None, "udp", ""))
        for osclass in host_el.findall("os/osmatch/osclass")[:3]:
            line = " ".join(v for v in (osclass.get("vendor"), osclass.get("osfamily"), osclass.get("osgen")) if v)
            if osclass.get("type"):
                line += f" ({osclass.get('type')})"
            if line:
                host.findings.append(Finding("nmap.os", line, None, None, "nmap.os"))
            for cpe in osclass.findall("cpe"):
                if cpe.text:
                    host.findings.append(Finding("nmap.cpe", cpe.text.strip(), None, None, "nmap.os"))
        hosts.append(host)
    finished = root.find("runstats/finished")
    elapsed = float(finished.get("elapsed", "0")) if finished is not None else 0.0
    return NmapRun(hosts=hosts, args=root.get("args", ""), elapsed=elapsed)
