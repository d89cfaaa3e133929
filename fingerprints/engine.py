"""Combining the findings of a device's observations into one Identification, and the policy verdict on it.

How: findings are grouped by vendor; a group's score is 1 - Π(1 - weight). The device's vendor is the best group
with the device role (a NIC or radio-module maker only when nothing else names one); other groups become components
(module makers, OEM makers, software) or conflicts, which are shown, never dropped. Confidence is the winner's score,
reduced by the strongest conflict. The flag follows the vendor's headquarters, its ultimate owner valid on the
given date and, for white-label brands, the maker behind them; each reason is spelled out, and a verdict that rests
only on weak evidence (a MAC prefix, a DHCP host name) says so.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fingerprints.aliases import alias_index
from fingerprints.analyse import Analyser, Finding
from fingerprints.catalogue import Catalogue, Vendor, catalogue, load_catalogue
from fingerprints.countries import country_name
from fingerprints.identification import (
    MAX_EVIDENCE_VALUE,
    Component,
    Conflict,
    Evidence,
    Identification,
    ListEntry,
    ObservationLike,
    construct,
)
from fingerprints.kinds import KIND_NAMES
from fingerprints.lists import list_name
from fingerprints.policy import Policy, default_policy
from fingerprints.registries.nmap_probes import NmapDatabase, nmap_database
from fingerprints.registries.oui import OuiRegistry, oui_registry
from fingerprints.registries.pen import pen_registry
from fingerprints.rules import RuleSet, load_rules, rule_set

CACHE_SIZE = 32_768
CACHE_MAX_VALUE = 1_024  # longer values are analysed every time rather than pinned in memory
MAX_OBSERVATIONS = 5_000


class _Group:
    """The findings that name one vendor; summarised once all findings are in (see finish())."""

    __slots__ = ("key", "vendor", "name", "country", "findings", "score", "weak", "roles", "top")

    def __init__(self, key: str, vendor: Vendor | None, name: str, country: str | None) -> None:
        self.key, self.vendor, self.name, self.country = key, vendor, name, country
        self.findings: list[Finding] = []
        self.score = 0.0
        self.weak = True
        self.roles: set[str] = set()
        self.top = 0.0

    def finish(self) -> None:
        miss = 1.0
        for f in self.findings:
            miss *= 1.0 - f.weight
            self.weak = self.weak and f.weak
            self.roles.add(f.role)
            self.top = max(self.top, f.weight)
        self.score = 1.0 - miss


@dataclass
class _Draft:
    """An Identification being assembled; plain attributes are far cheaper to set than a pydantic model's."""

    vendor_id: str | None = None
    vendor: str | None = None
    product: str | None = None
    firmware: str | None = None
    model: str | None = None
    device_type: str | None = None
    country: str | None = None
    owner: str | None = None
    owner_country: str | None = None
    oem_makers: list[str] = field(default_factory=list)
    lists: list[ListEntry] = field(default_factory=list)
    flagged: bool = False
    flag_reasons: list[str] = field(default_factory=list)
    flagged_by: list[str] = field(default_factory=list)
    weak: bool = False
    confidence: float = 0.0
    components: list[Component] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    catalogue_version: str = ""  # set by the engine; last, in the order of Identification's fields
    policy_version: str = ""
    unknown_reason: str | None = None

    def build(self) -> Identification:
        # Every value was produced here from validated data; construct without re-validating (hot path).
        return construct(Identification, **self.__dict__)


class Engine:
    """An identification engine over one catalogue, rule set and set of registries (lazily loaded)."""

    def __init__(self, cat: Catalogue | None = None, rules: RuleSet | None = None, *,
                 nmap: NmapDatabase | None | bool = True, oui: OuiRegistry | None | bool = True,
                 pens: Mapping[int, str] | None | bool = True) -> None:
        self._cat = cat
        self._rules = rules
        self._nmap, self._oui, self._pens = nmap, oui, pens
        self._analyser: Analyser | None = None
        # A plain dict (first in, first out) rather than lru_cache on a bound method: no reference cycle, so a
        # discarded engine and its cache are freed at once instead of waiting for the cyclic collector.
        self._memo: dict[tuple[str, str], tuple[tuple[Finding, ...], str | None]] = {}
        self._verdicts: dict[tuple[str, str, tuple[str, ...], date], _Verdict] = {}

    @property
    def catalogue(self) -> Catalogue:
        if self._cat is None:
            self._cat = catalogue()
        return self._cat

    def analyser(self) -> Analyser:
        if self._analyser is None:
            cat = self.catalogue
            self._analyser = Analyser(
                cat, alias_index(cat), self._rules or rule_set(),
                nmap_database if self._nmap is True else (self._nmap or None),
                oui_registry if self._oui is True else (self._oui or None),
                pen_registry if self._pens is True else (self._pens or None),
            )
        return self._analyser

    def _analyse_uncached(self, kind: str, value: str) -> tuple[tuple[Finding, ...], str | None]:
        found, problem = self.analyser().analyse(kind, value)
        return tuple(found), problem

    def analyse(self, kind: str, value: object) -> tuple[tuple[Finding, ...], str | None]:
        """Findings for one (kind, value), cached for short values."""
        if kind not in KIND_NAMES:
            return (), f"unknown observation kind {str(kind)[:60]!r}"
        if isinstance(value, str) and len(value) <= CACHE_MAX_VALUE:
            key = (kind, value)
            hit = self._memo.get(key)
            if hit is None:
                hit = self._memo[key] = self._analyse_uncached(kind, value)
                if len(self._memo) > CACHE_SIZE:
                    try:
                        del self._memo[next(iter(self._memo))]
                    except (KeyError, RuntimeError, StopIteration):
                        pass  # another thread evicted or inserted at the same moment: the cache stays bounded
            return hit
        found, problem = self.analyser().analyse(kind, value)
        return tuple(found), problem

    def identify(self, observations: Iterable[ObservationLike], *, policy: Policy | None = None,
                 when: date | None = None) -> Identification:
        """The identification of one device from all its observations."""
        policy = policy or default_policy()
        findings: list[Finding] = []
        problems: list[str] = []
        count = 0
        for obs in observations:
            count += 1
            if count > MAX_OBSERVATIONS:
                problems.append(f"only the first {MAX_OBSERVATIONS} observations were read")
                break
            kind = getattr(obs, "kind", None)
            value = getattr(obs, "value", None)
            if not isinstance(kind, str) or value is None:
                problems.append("an observation without kind or value was ignored")
                continue
            found, problem = self.analyse(kind, value)
            findings += found
            if problem:
                problems.append(problem)
        return self._combine(findings, problems, count, policy, when or date.today())

    # ---- combination
    def _groups(self, findings: list[Finding]) -> list[_Group]:
        groups: dict[str, _Group] = {}
        for f in findings:
            key = f.vendor_id or f"name:{(f.name or '?').casefold()}"
            g = groups.get(key)
            if g is None:
                vendor = self.catalogue.get(f.vendor_id) if f.vendor_id else None
                g = groups[key] = _Group(key, vendor, vendor.short if vendor else (f.name or "?"), f.country)
            g.findings.append(f)
        for g in groups.values():
            g.finish()
        return list(groups.values())

    def _related(self, a: Vendor | None, b: Vendor | None) -> str | None:
        """How two vendors are related through OEM relations, if at all."""
        if a is None or b is None:
            return None
        if any(rel.maker == b.id for rel in a.oem):
            return "oem-maker"
        if any(rel.maker == a.id for rel in b.oem):
            return "oem-brand"
        return None

    def _combine(self, findings: list[Finding], problems: list[str], count: int, policy: Policy,
                 when: date) -> Identification:
        cat = self.catalogue
        ident = _Draft(catalogue_version=cat.version, policy_version=policy.version)
        ident.evidence = [
            construct(Evidence, kind=f.kind, value=f.value[:MAX_EVIDENCE_VALUE], rule_id=f.rule_id,
                                     conclusion=f.conclusion, weight=round(f.weight, 3), vendor_id=f.vendor_id,
                                     role=f.role)
            for f in findings
        ]
        extra_fields = [f for f in findings if f.role == "fields"]
        groups = self._groups([f for f in findings if f.role != "fields"])
        # Installed packages say who wrote the host's software, never who made the host: they are components,
        # and listed ones flag the host (the motion covers software as well as equipment).
        installed = [g for g in groups if all(f.kind == "host.package" for f in g.findings)]
        groups = [g for g in groups if g not in installed]
        device = [g for g in groups if "device" in g.roles]
        makers = [g for g in device if not (g.vendor and g.vendor.is_component_maker)]
        # No device maker named: the operating system says more about the box than a server program on it
        # ("nginx/1.18.0 (Ubuntu)" is an Ubuntu host running nginx), so OS makers come before software makers.
        pool = (makers or device or [g for g in groups if "os" in g.roles]
                or [g for g in groups if "software" in g.roles]
                or [g for g in groups if "platform" in g.roles] or groups)
        if not pool and installed:
            # Nothing but installed software: name its most telling vendor (a listed one first) as the vendor of
            # this evidence, and keep the rest as components.
            pool = [max(installed, key=lambda g: (self._component(g, "software", policy, when).listed,
                                                   g.score, g.top))]
            groups = pool
            installed = [g for g in installed if g is not pool[0]]
        ident.components = [self._component(g, "software", policy, when) for g in installed]
        if not pool:
            ident.unknown_reason = ("no observations" if count == 0 else
                                    "; ".join(dict.fromkeys(problems)) or "no observation named a known vendor")
            return ident.build()
        best = max(pool, key=lambda g: (g.score, g.top))
        seen_directly = all(f.kind in ("host.pci", "host.usb") for f in best.findings)
        if best.vendor and best.vendor.is_component_maker and not seen_directly and (
                best.weak or "device" not in best.roles):
            # A module maker's MAC prefix (or its default host name) alone: the module is known, the device's
            # brand is not. Flagging the brand on this would be wrong for every Western device built on the module.
            ident.components += [self._component(g, _component_role(g.vendor), policy, when) for g in groups]
            ident.unknown_reason = (f"only a component maker was seen ({best.name}, "
                                    f"{', '.join(sorted({f.rule_id for f in best.findings}))}); "
                                    "the device's own brand is unknown")
            ident.confidence = round(min(0.3, best.score), 3)
            return ident.build()
        strongest_conflict = 0.0
        for g in groups:
            if g is best:
                continue
            relation = self._related(best.vendor, g.vendor)
            if relation or (g.vendor and g.vendor.is_component_maker) or not (g.roles & {"device"}):
                if relation:
                    role = relation
                elif g.vendor and g.vendor.is_component_maker:
                    role = _component_role(g.vendor)
                else:
                    role = next(iter(sorted(g.roles - {"device"})), "component")
                    role = "os" if role == "platform" else role  # an OS nmap inferred is still an OS
                ident.components.append(self._component(g, role, policy, when))
                continue
            strongest_conflict = max(strongest_conflict, g.score)
            ident.conflicts.append(construct(Conflict,
                vendor_id=g.vendor.id if g.vendor else None, vendor=g.name, weight=round(g.score, 3),
                kinds=sorted({f.kind for f in g.findings}),
                note=f"{g.name} is also named ({', '.join(sorted({f.rule_id for f in g.findings}))})"))
        self._describe(ident, best, policy, when, extra_fields)
        if ident.flagged and strongest_conflict >= 0.75 * best.score:
            others = ", ".join(c.vendor for c in ident.conflicts if c.weight >= 0.75 * best.score)
            ident.flag_reasons.append(f"contested: {others} is named with comparable weight; review the evidence")
        ident.confidence = round(min(0.99, best.score * (1.0 - 0.5 * strongest_conflict)), 3)
        self._flag_software(ident)
        return ident.build()

    @staticmethod
    def _flag_software(ident: _Draft) -> None:
        """Flag a device that runs software or an operating system from a listed vendor, saying which (the motion
        covers software as well as equipment; a listed maker's network OS on another brand's switch says who
        built it)."""
        for c in ident.components:
            if c.role in ("software", "os") and c.listed:
                ident.flagged = True
                where = f" ({c.country}, {country_name(c.country)})" if c.country else ""
                what = "an operating system" if c.role == "os" else "software"
                ident.flag_reasons.append(f"runs {what} from {c.vendor}{where}: {', '.join(c.evidence)}")
                ident.flagged_by.append(c.role)

    def _component(self, g: _Group, role: str, policy: Policy, when: date) -> Component:
        country = g.vendor.hq.country if g.vendor else g.country
        owner = g.vendor.owner_at(when) if g.vendor else None
        listed = policy.lists(country) or (owner is not None and policy.lists(owner.country))
        return construct(Component, vendor_id=g.vendor.id if g.vendor else None, vendor=g.name, role=role,
                                         country=country, listed=listed,
                                         evidence=sorted({f.rule_id for f in g.findings}))

    def _describe(self, ident: _Draft, best: _Group, policy: Policy, when: date,
                  extra_fields: list[Finding]) -> None:
        for f in sorted(best.findings, key=lambda f: -f.weight) + extra_fields:
            for name in ("product", "model", "device_type"):
                if getattr(ident, name) is None and f.get(name):
                    setattr(ident, name, f.get(name))
            if ident.firmware is None and (f.get("firmware") or f.get("version")):
                ident.firmware = f.get("firmware") or f.get("version")
        ident.vendor = best.name
        ident.weak = best.weak
        vendor = best.vendor
        weak_note = ""
        if best.weak:
            kinds = ", ".join(sorted({f.kind for f in best.findings}))
            weak_note = f" (weak evidence: only {kinds})"
        if vendor is None:
            # Not in the catalogue: the OUI registrant's address is all we know, and we say so.
            ident.country = best.country
            if best.country is None:
                ident.unknown_reason = f"{best.name!r} is not in the catalogue and its country is unknown"
            elif policy.lists(best.country):
                ident.flagged = True
                ident.flag_reasons.append(
                    f"registrant {best.name!r} has its registered address in {best.country} "
                    f"({country_name(best.country)}); vendor not in the catalogue{weak_note or ' (weak evidence)'}")
                ident.flagged_by.append("registrant")
                ident.weak = True
            return
        verdict = self._verdict(vendor, policy, when)
        ident.vendor_id = vendor.id
        ident.country = vendor.hq.country
        if ident.device_type is None and vendor.categories:
            ident.device_type = vendor.categories[0]
        ident.owner, ident.owner_country = verdict.owner, verdict.owner_country
        ident.oem_makers = list(verdict.oem_makers)
        ident.lists = list(verdict.lists)
        if verdict.reasons:
            ident.flagged = True
            ident.flag_reasons = [r + weak_note for r in verdict.reasons]
            ident.flagged_by = list(verdict.dimensions)

    def _verdict(self, vendor: Vendor, policy: Policy, when: date) -> _Verdict:
        """The policy's verdict on one vendor on one date; memoised, as thousands of devices share a vendor."""
        key = (vendor.id, policy.version, tuple(policy.countries), when)
        hit = self._verdicts.get(key)
        if hit is not None:
            return hit
        owner = vendor.owner_at(when)
        reasons: list[str] = []
        dimensions: list[str] = []
        if policy.lists(vendor.hq.country):
            reasons.append(f"headquarters in {vendor.hq.country} ({country_name(vendor.hq.country)})")
            dimensions.append("headquarters")
        if owner is not None and policy.lists(owner.country):
            reasons.append(f"ultimate owner {owner.name} in {owner.country} ({country_name(owner.country)})")
            dimensions.append("owner")
        makers: list[str] = []
        for rel in vendor.oem:
            maker = self.catalogue.get(rel.maker)
            if maker is None:
                continue
            makers.append(maker.id)
            m_owner = maker.owner_at(when)
            where = [c for c in (maker.hq.country, m_owner.country if m_owner else None) if c and policy.lists(c)]
            if where:
                reasons.append(f"white-label brand: hardware made by {maker.short} ({where[0]}, "
                               f"{country_name(where[0])}){': ' + rel.note if rel.note else ''}")
                dimensions.append("maker")
        listed_by = [vendor, *(m for m in (self.catalogue.get(rel.maker) for rel in vendor.oem) if m is not None)]
        memberships = tuple(
            ListEntry(list=m.list, name=list_name(m.list), vendor_id=v.id,
                      since=m.since.isoformat() if m.since else None, source=m.source)
            for v in listed_by for m in v.lists if m.since is None or m.since <= when)
        verdict = _Verdict(owner.name if owner else None, owner.country if owner else None, tuple(makers),
                           tuple(reasons), memberships, tuple(dimensions))
        if len(self._verdicts) < 65_536:
            self._verdicts[key] = verdict
        return verdict


@dataclass(frozen=True)
class _Verdict:
    owner: str | None
    owner_country: str | None
    oem_makers: tuple[str, ...]
    reasons: tuple[str, ...]
    lists: tuple[ListEntry, ...] = ()
    dimensions: tuple[str, ...] = ()


def _component_role(vendor: Vendor | None) -> str:
    if vendor is None:
        return "component"
    cats = set(vendor.categories)
    if "iot-module" in cats:
        return "radio-module"
    if "nic" in cats:
        return "nic"
    if "semiconductor" in cats:
        return "chip"
    return "component"


@functools.cache
def default_engine() -> Engine:
    """The engine over the packaged data, created once."""
    return Engine()


def engine_for(data_dir: Path) -> Engine:
    """An engine over another data directory (vendors/, catalogue.toml, rules/): for tests and data review."""
    return Engine(load_catalogue(data_dir), load_rules(data_dir / "rules") if (data_dir / "rules").exists()
                  else None)


def identify(observations: Iterable[ObservationLike], *, policy: Policy | None = None,
             when: date | None = None) -> Identification:
    """Identify one device from its observations with the packaged catalogue, rules and registries; ownership is
    judged as of `when` (default: today)."""
    return default_engine().identify(observations, policy=policy, when=when)
