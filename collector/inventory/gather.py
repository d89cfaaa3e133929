"""Gathers one period's inventory from the database: set-based queries, bounded lists, pseudonyms applied here.

A device counts in a period when it was first seen before the period ended and last seen after it began. Both the
period and the previous one are counted with today's verdicts, so the trend shows changes in equipment rather than
in the catalogue; changes of verdict are listed separately (IdentificationChange).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, distinct, func, or_, select
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
    SectorCountryCell,
    SectorTrend,
    Totals,
    VendorRow,
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


def _flagged_sum() -> Any:
    return func.coalesce(func.sum(case((_i.flagged.is_(True), 1), else_=0)), 0)


def _totals(session: Session, period: Period, sector: str | None) -> Totals:
    identified = func.coalesce(func.sum(case((_i.vendor_id.is_not(None), 1), else_=0)), 0)
    row = session.execute(_base(
        [func.count(_d.id), identified, _flagged_sum(), func.count(distinct(_d.organisation_id))], period, sector
    )).one()
    with_flagged = session.execute(
        _base([func.count(distinct(_d.organisation_id))], period, sector).where(_i.flagged.is_(True))
    ).scalar_one()
    return Totals(devices=row[0], identified=int(row[1]), flagged=int(row[2]), organisations=row[3],
                  organisations_with_flagged=with_flagged)


def _sector_name(code: str) -> str:
    s = sectors().get(code)
    return s.name_en if s is not None else code


def _by_sector_country(session: Session, period: Period, sector: str | None) -> list[SectorCountryCell]:
    rows = session.execute(
        _base([_o.sector, _i.country, func.count(_d.id), _flagged_sum()], period, sector)
        .group_by(_o.sector, _i.country)
    ).all()
    cells = [SectorCountryCell(sector=s, sector_name=_sector_name(s), country=c, devices=n, flagged=int(f))
             for s, c, n, f in rows]
    return sorted(cells, key=lambda c: (c.sector, -c.devices, c.country or "~"))


def _by_sector(session: Session, period: Period, sector: str | None) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        _base([_o.sector, func.count(_d.id), _flagged_sum()], period, sector).group_by(_o.sector)
    ).all()
    return {s: (n, int(f)) for s, n, f in rows}


def _trend(session: Session, period: Period, sector: str | None) -> list[SectorTrend]:
    now, before = _by_sector(session, period, sector), _by_sector(session, period.previous(), sector)
    out = []
    for code in sorted(set(now) | set(before)):
        n, f = now.get(code, (0, 0))
        pn, pf = before.get(code, (0, 0))
        out.append(SectorTrend(sector=code, sector_name=_sector_name(code), devices=n, flagged=f,
                               previous_devices=pn, previous_flagged=pf))
    return out


def _top_vendors(session: Session, period: Period, sector: str | None) -> list[VendorRow]:
    n = func.count(_d.id)
    rows = session.execute(
        _base([_i.vendor_id, _i.vendor, _i.country, _i.owner_country, n, func.count(distinct(_d.organisation_id))],
              period, sector)
        .where(_i.flagged.is_(True))
        .group_by(_i.vendor_id, _i.vendor, _i.country, _i.owner_country)
        .order_by(n.desc(), _i.vendor_id).limit(TOP)
    ).all()
    return [VendorRow(vendor_id=v, vendor=name, country=c, owner_country=oc, devices=k, organisations=orgs)
            for v, name, c, oc, k, orgs in rows]


def _top_categories(session: Session, period: Period, sector: str | None) -> list[CategoryRow]:
    n = func.count(_d.id)
    rows = session.execute(
        _base([_i.category, n, func.count(distinct(_d.organisation_id))], period, sector)
        .where(_i.flagged.is_(True)).group_by(_i.category).order_by(n.desc(), _i.category).limit(TOP)
    ).all()
    return [CategoryRow(category=c, devices=k, organisations=orgs) for c, k, orgs in rows]


def _device_scope(q: Select[Any], sector: str | None) -> Select[Any]:
    return q.where(_o.sector == sector) if sector is not None else q


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
    changed = _device_scope(
        select(*cols, _c.at, _c.change, _c.new_flagged).select_from(devices.join(c, c.c.device_id == d.c.id)).where(
            _c.at >= period.start, _c.at < period.end,
            or_(_c.change.in_(("flagged", "unflagged")), and_(_c.change == "identified", _c.new_flagged.is_(True))),
        ), sector)

    def row(r: Any, reason: str, at: datetime) -> FlagChange:
        org = names.name(r[1]) if pseudonymise else r[1]
        return FlagChange(device_id=r[0], organisation=org, sector=r[2], vendor=r[3], country=r[4],
                          owner_country=r[5], reason=reason, at=at)

    added = [row(r, "new_device", r[6]) for r in session.execute(new.order_by(_d.first_seen, _d.id))]
    removed = [row(r, "no_longer_seen", r[6]) for r in session.execute(gone.order_by(_d.last_seen, _d.id))]
    for r in session.execute(changed.order_by(_c.at, _c.id)):
        if r[7] == "unflagged":
            removed.append(row(r, "reattributed_unflagged", r[6]))
        else:
            added.append(row(r, "reattributed_flagged", r[6]))
    return added[:LIST_LIMIT], len(added), removed[:LIST_LIMIT], len(removed)


def _organisations(
    session: Session, period: Period, sector: str | None, names: Pseudonymiser, pseudonymise: bool
) -> list[OrganisationRow]:
    identified = func.coalesce(func.sum(case((_i.vendor_id.is_not(None), 1), else_=0)), 0)
    flagged = _flagged_sum()
    rows = session.execute(
        _base([_o.id, _o.name, _o.sector, func.count(_d.id), identified, flagged], period, sector)
        .group_by(_o.id, _o.name, _o.sector).order_by(flagged.desc(), _o.name).limit(LIST_LIMIT)
    ).all()
    vendors: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for org_id, vendor, n in session.execute(
        _base([_o.id, func.coalesce(_i.vendor, _i.vendor_id), func.count(_d.id)], period, sector)
        .where(_i.flagged.is_(True)).group_by(_o.id, func.coalesce(_i.vendor, _i.vendor_id))
    ):
        vendors[org_id].append((n, vendor or "unknown"))
    out = []
    for org_id, name, sec, n, ident, flag in rows:
        top = [v for _n, v in sorted(vendors.get(org_id, []), key=lambda x: (-x[0], x[1]))[:5]]
        out.append(OrganisationRow(organisation=names.name(name) if pseudonymise else name, sector=sec, devices=n,
                                   identified=int(ident), flagged=int(flag), flagged_vendors=top))
    return out


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


def _versions(session: Session, period: Period, sector: str | None) -> list[VersionRow]:
    rows = session.execute(
        _base([_i.origin, _i.catalogue_version, _i.policy_version, func.count(_d.id)], period, sector)
        .where(_i.origin.is_not(None))
        .group_by(_i.origin, _i.catalogue_version, _i.policy_version)
    ).all()
    return sorted((VersionRow(origin=o, catalogue_version=c, policy_version=p, devices=n) for o, c, p, n in rows),
                  key=lambda v: -v.devices)


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
    from fingerprints import catalogue_version
    from fingerprints.policy import default_policy

    policy = default_policy()
    pseudonymise = pseudonymiser is not None
    names = pseudonymiser or Pseudonymiser(None)
    added, added_total, removed, removed_total = _changes(session, period, sector, names, pseudonymise)
    appendix, appendix_total = _appendix(session, period, sector, names, pseudonymise, appendix_limit)
    return InventoryContent(
        period=str(period), period_start=period.start, period_end=period.end, previous_period=str(period.previous()),
        in_progress=period.in_progress(now), sector=sector, sector_name=_sector_name(sector) if sector else None,
        generated_at=now or utcnow(), pseudonymised=pseudonymise,
        totals=_totals(session, period, sector), previous_totals=_totals(session, period.previous(), sector),
        by_sector_country=_by_sector_country(session, period, sector), trend=_trend(session, period, sector),
        top_vendors=_top_vendors(session, period, sector), top_categories=_top_categories(session, period, sector),
        flagged_added=added, flagged_added_total=added_total, flagged_removed=removed,
        flagged_removed_total=removed_total,
        organisations=_organisations(session, period, sector, names, pseudonymise),
        appendix=appendix, appendix_total=appendix_total,
        method=Method(
            catalogue_version=catalogue_version(), policy_version=policy.version, policy_name=policy.name,
            policy_countries=list(policy.countries), identification_versions=_versions(session, period, sector),
            counting=COUNTING, pseudonymisation=names.note() if pseudonymise else None,
        ),
    )
