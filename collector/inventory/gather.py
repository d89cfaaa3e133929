"""Gathers one period's inventory from the database: set-based queries, bounded lists, pseudonyms applied here.

A device counts in a period when it was first seen before the period ended and last seen after it began. Both the
period and the previous one are counted with today's verdicts, so the trend shows changes in equipment rather than
in the catalogue; changes of verdict are listed separately (IdentificationChange).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql import Select
from sqlmodel import Session

from collector.inventory.content import (
    AppendixEntry,
    CategoryRow,
    EvidenceItem,
    FlagChange,
    InventoryContent,
    Method,
    OrganisationRow,
    PublicListRow,
    SectorCountryCell,
    SectorTrend,
    ThenAndNow,
    Totals,
    VendorRow,
    VerdictSince,
    VersionRow,
)
from collector.inventory.period import Period
from collector.inventory.pseudonym import Pseudonymiser
from collector.models import Device, Identification, IdentificationChange, Organisation, utcnow
from collector.sectors import sectors

TOP = 15
#: Lists that can grow with the data (changes, organisations, the appendix) are cut here; the totals stay exact.
LIST_LIMIT = 500

_d = Device.__table__.c  # type: ignore[attr-defined]
_o = Organisation.__table__.c  # type: ignore[attr-defined]
_i = Identification.__table__.c  # type: ignore[attr-defined]
_c = IdentificationChange.__table__.c  # type: ignore[attr-defined]


def _base(columns: list[Any], period: Period, sector: str | None) -> Select[Any]:
    d, o, i = Device.__table__, Organisation.__table__, Identification.__table__  # type: ignore[attr-defined]
    q = select(*columns).select_from(d.join(o, o.c.id == d.c.organisation_id).outerjoin(i, i.c.device_id == d.c.id))
    q = q.where(_d.first_seen < period.end, _d.last_seen >= period.start)
    if sector is not None:
        q = q.where(_o.sector == sector)
    return q


@dataclass(frozen=True)
class _Group:
    """Devices of one organisation sharing one verdict: the unit every table of the report adds up."""

    org_id: int
    org: str
    sector: str
    vendor_id: str | None
    vendor: str | None
    country: str | None
    owner_country: str | None
    category: str | None
    flagged: bool
    origin: str | None
    catalogue_version: str | None
    policy_version: str | None
    devices: int


def _breakdown(session: Session, period: Period, sector: str | None) -> list[_Group]:
    """One grouped scan of the period's devices; every count in the report is summed from these groups.

    (One scan instead of one per table: at a million devices each scan costs seconds.)
    """
    keys = [_o.id, _o.name, _o.sector, _i.vendor_id, _i.vendor, _i.country, _i.owner_country, _i.category,
            _i.flagged, _i.origin, _i.catalogue_version, _i.policy_version]
    rows = session.execute(_base([*keys, func.count(_d.id)], period, sector).group_by(*keys))
    return [_Group(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9], r[10], r[11], r[12])
            for r in rows]


def _previous(session: Session, period: Period, sector: str | None) -> list[_Group]:
    """The previous period, grouped only as far as the trend needs."""
    keys = [_o.id, _o.sector, _i.flagged]
    rows = session.execute(_base([*keys, func.count(_d.id)], period.previous(), sector).group_by(*keys))
    return [_Group(r[0], "", r[1], None, None, None, None, None, bool(r[2]), None, None, None, r[3]) for r in rows]


def _totals(groups: list[_Group]) -> Totals:
    return Totals(
        devices=sum(g.devices for g in groups),
        identified=sum(g.devices for g in groups if g.vendor_id is not None),
        flagged=sum(g.devices for g in groups if g.flagged),
        organisations=len({g.org_id for g in groups}),
        organisations_with_flagged=len({g.org_id for g in groups if g.flagged}),
    )


def _sector_name(code: str) -> str:
    s = sectors().get(code)
    return s.name_en if s is not None else code


def _by_sector_country(groups: list[_Group]) -> list[SectorCountryCell]:
    sums: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for g in groups:
        cell = sums[(g.sector, g.country)]
        cell[0] += g.devices
        cell[1] += g.devices if g.flagged else 0
    cells = [SectorCountryCell(sector=s, sector_name=_sector_name(s), country=c, devices=n, flagged=f)
             for (s, c), (n, f) in sums.items()]
    return sorted(cells, key=lambda c: (c.sector, -c.devices, c.country or "~"))


def _by_sector(groups: list[_Group]) -> dict[str, tuple[int, int]]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for g in groups:
        sums[g.sector][0] += g.devices
        sums[g.sector][1] += g.devices if g.flagged else 0
    return {k: (v[0], v[1]) for k, v in sums.items()}


def _trend(groups: list[_Group], previous: list[_Group]) -> list[SectorTrend]:
    now, before = _by_sector(groups), _by_sector(previous)
    out = []
    for code in sorted(set(now) | set(before)):
        n, f = now.get(code, (0, 0))
        pn, pf = before.get(code, (0, 0))
        out.append(SectorTrend(sector=code, sector_name=_sector_name(code), devices=n, flagged=f,
                               previous_devices=pn, previous_flagged=pf))
    return out


def _public_lists(groups: list[_Group], on: date) -> list[PublicListRow]:
    """Devices per public list, as the lists stood on `on` (the period's last day), from the catalogue's dated facts."""
    from fingerprints.lists import LIST_NAMES, vendors_on

    rows = []
    for list_id, name in LIST_NAMES.items():
        vendors = vendors_on(list_id, on)
        hit = [g for g in groups if g.vendor_id in vendors]
        if hit:
            rows.append(PublicListRow(list=list_id, name=name, devices=sum(g.devices for g in hit),
                                      flagged=sum(g.devices for g in hit if g.flagged),
                                      organisations=len({g.org_id for g in hit})))
    return rows


def _top_vendors(groups: list[_Group]) -> list[VendorRow]:
    devices: dict[tuple[str | None, str | None, str | None, str | None], int] = defaultdict(int)
    orgs: dict[tuple[str | None, str | None, str | None, str | None], set[int]] = defaultdict(set)
    for g in groups:
        if g.flagged:
            key = (g.vendor_id, g.vendor, g.country, g.owner_country)
            devices[key] += g.devices
            orgs[key].add(g.org_id)
    top = sorted(devices.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1] or ""))[:TOP]
    return [VendorRow(vendor_id=k[0], vendor=k[1], country=k[2], owner_country=k[3], devices=n,
                      organisations=len(orgs[k])) for k, n in top]


def _top_categories(groups: list[_Group]) -> list[CategoryRow]:
    devices: dict[str | None, int] = defaultdict(int)
    orgs: dict[str | None, set[int]] = defaultdict(set)
    for g in groups:
        if g.flagged:
            devices[g.category] += g.devices
            orgs[g.category].add(g.org_id)
    top = sorted(devices.items(), key=lambda kv: (-kv[1], kv[0] or "~"))[:TOP]
    return [CategoryRow(category=k, devices=n, organisations=len(orgs[k])) for k, n in top]


def _device_scope(q: Select[Any], sector: str | None) -> Select[Any]:
    return q.where(_o.sector == sector) if sector is not None else q


def _then_and_now(session: Session, period: Period, sector: str | None, names: Pseudonymiser,
                  pseudonymise: bool) -> ThenAndNow:
    """What held at the period's end for each of its devices: today's verdict, unless a change was recorded after
    the end — then the state just before the first such change (its old vendor and flag)."""
    c = IdentificationChange.__table__  # type: ignore[attr-defined]
    first_after = (select(_c.device_id, func.min(_c.id).label("first_id")).where(_c.at >= period.end)
                   .group_by(_c.device_id).subquery())
    first = c.alias("first_change")
    q = _base([_d.id, _o.name, _o.sector, _i.vendor_id, _i.flagged, first.c.old_vendor_id, first.c.old_flagged,
               first.c.reason, first.c.at], period, sector)
    q = q.join(first_after, first_after.c.device_id == _d.id).join(first, first.c.id == first_after.c.first_id)
    flagged_now = int(session.execute(_base([func.count()], period, sector).where(_i.flagged.is_(True))
                                      ).scalar_one())
    changed: list[VerdictSince] = []
    total = gained = lost = 0
    for r in session.execute(q.order_by(first.c.at, _d.id)):
        then, now = bool(r[6]), bool(r[4])
        if r[5] == r[3] and then == now:
            continue  # changed and changed back: the same verdict as then
        total += 1
        gained += now and not then
        lost += then and not now
        if len(changed) < LIST_LIMIT:
            changed.append(VerdictSince(device_id=r[0], organisation=names.name(r[1]) if pseudonymise else r[1],
                                        sector=r[2], vendor_then=r[5], vendor_now=r[3], flagged_then=then,
                                        flagged_now=now, reason=r[7], changed_at=r[8]))
    return ThenAndNow(flagged_then=flagged_now - gained + lost, flagged_now=flagged_now, changed_total=total,
                      changed=changed)


def _changes(
    session: Session, period: Period, sector: str | None, names: Pseudonymiser, pseudonymise: bool
) -> tuple[list[FlagChange], int, list[FlagChange], int]:
    d, o, i, c = (t.__table__ for t in (Device, Organisation, Identification, IdentificationChange))  # type: ignore[attr-defined,union-attr]
    cols = [_d.id, _o.name, _o.sector, _i.vendor, _i.country, _i.owner_country]
    devices = d.join(o, o.c.id == d.c.organisation_id).outerjoin(i, i.c.device_id == d.c.id)
    prev = period.previous()

    new = _device_scope(select(*cols, _d.first_seen).select_from(devices).where(
        _i.flagged.is_(True), _d.first_seen >= period.start, _d.first_seen < period.end), sector)
    gone = _device_scope(select(*cols, _d.last_seen).select_from(devices).where(
        _i.flagged.is_(True), _d.last_seen >= prev.start, _d.last_seen < period.start), sector)
    reattributed = or_(_c.change.in_(("flagged", "unflagged")),
                       and_(_c.change == "identified", _c.new_flagged.is_(True)))
    changed = _device_scope(
        select(*cols, _c.at, _c.change).select_from(devices.join(c, c.c.device_id == d.c.id)).where(
            _c.at >= period.start, _c.at < period.end, reattributed), sector)

    def row(r: Any, reason: str, at: datetime) -> FlagChange:
        org = names.name(r[1]) if pseudonymise else r[1]
        return FlagChange(device_id=r[0], organisation=org, sector=r[2], vendor=r[3], country=r[4],
                          owner_country=r[5], reason=reason, at=at)

    def count(q: Select[Any]) -> int:
        return int(session.execute(select(func.count()).select_from(q.subquery())).scalar_one())

    unflag = _c.change == "unflagged"
    # Totals are exact; only the first LIST_LIMIT rows of each list are read, so a big month stays cheap.
    added = [row(r, "new_device", r[6])
             for r in session.execute(new.order_by(_d.first_seen, _d.id).limit(LIST_LIMIT))]
    added += [row(r, "reattributed_flagged", r[6])
              for r in session.execute(changed.where(~unflag).order_by(_c.at, _c.id).limit(LIST_LIMIT))]
    removed = [row(r, "no_longer_seen", r[6])
               for r in session.execute(gone.order_by(_d.last_seen, _d.id).limit(LIST_LIMIT))]
    removed += [row(r, "reattributed_unflagged", r[6])
                for r in session.execute(changed.where(unflag).order_by(_c.at, _c.id).limit(LIST_LIMIT))]
    added_total = count(new) + count(changed.where(~unflag))
    removed_total = count(gone) + count(changed.where(unflag))
    return added[:LIST_LIMIT], added_total, removed[:LIST_LIMIT], removed_total


def _organisations(groups: list[_Group], names: Pseudonymiser, pseudonymise: bool) -> list[OrganisationRow]:
    per: dict[int, dict[str, Any]] = {}
    for g in groups:
        o = per.setdefault(g.org_id, {"name": g.org, "sector": g.sector, "devices": 0, "identified": 0,
                                      "flagged": 0, "vendors": defaultdict(int)})
        o["devices"] += g.devices
        o["identified"] += g.devices if g.vendor_id is not None else 0
        if g.flagged:
            o["flagged"] += g.devices
            o["vendors"][g.vendor or g.vendor_id or "unknown"] += g.devices
    out = []
    for o in per.values():
        top = [v for v, _n in sorted(o["vendors"].items(), key=lambda x: (-x[1], x[0]))[:5]]
        out.append(OrganisationRow(organisation=names.name(o["name"]) if pseudonymise else o["name"],
                                   sector=o["sector"], devices=o["devices"], identified=o["identified"],
                                   flagged=o["flagged"], flagged_vendors=top))
    # Ordered by the figures and then by the name shown, so the order reveals nothing a pseudonym hides.
    out.sort(key=lambda r: (-r.flagged, -r.devices, r.organisation))
    return out[:LIST_LIMIT]


def _evidence(detail: dict[str, Any], names: Pseudonymiser, pseudonymise: bool) -> list[EvidenceItem]:
    items = []
    for e in detail.get("evidence") or []:
        if not isinstance(e, dict):
            continue
        kind, value = str(e.get("kind", "")), str(e.get("value", ""))
        weight = e.get("weight")
        items.append(EvidenceItem(
            kind=kind, value=names.evidence_value(kind, value) if pseudonymise else value,
            rule_id=str(e.get("rule_id", "")), conclusion=str(e.get("conclusion", "")),
            weight=float(weight) if isinstance(weight, int | float) else None,
        ))
    return items


def _appendix(
    session: Session, period: Period, sector: str | None, names: Pseudonymiser, pseudonymise: bool, limit: int
) -> tuple[list[AppendixEntry], int]:
    total = session.execute(_base([func.count(_d.id)], period, sector).where(_i.flagged.is_(True))).scalar_one()
    rows = session.execute(
        _base([_d.id, _o.name, _o.sector, _d.first_seen, _d.last_seen, _i.vendor, _i.vendor_id, _i.product,
               _i.device_type, _i.country, _i.owner_country, _i.confidence, _i.origin, _i.catalogue_version,
               _i.policy_version, _i.detail], period, sector)
        .where(_i.flagged.is_(True)).order_by(_o.name, _d.id).limit(limit)
    ).all()
    out = []
    for r in rows:
        detail: dict[str, Any] = r[15] if isinstance(r[15], dict) else {}
        reasons = [str(x) for x in detail.get("flag_reasons") or []]
        if not reasons:
            reasons = [f"headquarters or owner country on the policy list ({r[9] or '?'}/{r[10] or '?'})"]
        conflicts = [c for c in detail.get("conflicts") or [] if isinstance(c, dict)]
        out.append(AppendixEntry(
            device_id=r[0], organisation=names.name(r[1]) if pseudonymise else r[1], sector=r[2], first_seen=r[3],
            last_seen=r[4], vendor=r[5] or r[6], product=r[7], device_type=r[8], country=r[9], owner_country=r[10],
            confidence=r[11] or 0.0, origin=r[12], catalogue_version=r[13], policy_version=r[14],
            flag_reasons=reasons, evidence=_evidence(detail, names, pseudonymise), conflicts=conflicts,
            note=detail.get("note") if isinstance(detail.get("note"), str) else None,
        ))
    return out, total


def _versions(groups: list[_Group]) -> list[VersionRow]:
    sums: dict[tuple[str, str | None, str | None], int] = defaultdict(int)
    for g in groups:
        if g.origin is not None:
            sums[(g.origin, g.catalogue_version, g.policy_version)] += g.devices
    rows = [VersionRow(origin=o, catalogue_version=c, policy_version=p, devices=n) for (o, c, p), n in sums.items()]
    return sorted(rows, key=lambda v: (-v.devices, v.origin))


COUNTING = (
    "A device counts in a period when it was first seen before the period ended and last seen after it began. "
    "Devices are identified from their stored observations (MAC prefix, banners, certificates, SNMP, industrial "
    "protocol identity reads) against the vendor catalogue; a device is flagged when its vendor's headquarters or "
    "ultimate owner is in a country on the policy list. Both periods are counted with today's verdicts, so the "
    "trend shows changes in equipment; changes of verdict (re-attribution after a catalogue or policy update) are "
    "listed with the flagged devices added and removed."
)


def gather(
    session: Session, *, period: Period, sector: str | None = None, pseudonymiser: Pseudonymiser | None = None,
    appendix_limit: int = LIST_LIMIT, now: datetime | None = None,
) -> InventoryContent:
    """Everything one inventory report shows, for `period` (and `sector`, or all sectors).

    With a `pseudonymiser`, organisation names and naming evidence are replaced as the rows are read.
    """
    from collector.policy import policy_in_force
    from fingerprints import catalogue_version

    policy = policy_in_force(session, at=now).policy
    pseudonymise = pseudonymiser is not None
    names = pseudonymiser or Pseudonymiser(None)
    groups, previous = _breakdown(session, period, sector), _previous(session, period, sector)
    added, added_total, removed, removed_total = _changes(session, period, sector, names, pseudonymise)
    appendix, appendix_total = _appendix(session, period, sector, names, pseudonymise, appendix_limit)
    return InventoryContent(
        period=str(period), period_start=period.start, period_end=period.end, previous_period=str(period.previous()),
        in_progress=period.in_progress(now), sector=sector, sector_name=_sector_name(sector) if sector else None,
        generated_at=now or utcnow(), pseudonymised=pseudonymise,
        totals=_totals(groups), previous_totals=_totals(previous),
        by_sector_country=_by_sector_country(groups), trend=_trend(groups, previous),
        top_vendors=_top_vendors(groups), top_categories=_top_categories(groups),
        then_and_now=None if period.in_progress(now) else _then_and_now(session, period, sector, names, pseudonymise),
        public_lists=_public_lists(groups, (min(period.end, now or utcnow()) - timedelta(microseconds=1)).date()),
        flagged_added=added, flagged_added_total=added_total, flagged_removed=removed,
        flagged_removed_total=removed_total,
        organisations=_organisations(groups, names, pseudonymise),
        appendix=appendix, appendix_total=appendix_total,
        method=Method(
            catalogue_version=catalogue_version(), policy_version=policy.version, policy_name=policy.name,
            policy_countries=list(policy.countries), identification_versions=_versions(groups),
            counting=COUNTING, pseudonymisation=names.note() if pseudonymise else None,
        ),
    )
