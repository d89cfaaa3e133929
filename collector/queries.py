"""Read-side queries for analysts: device lists, device detail, the sector × country summary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col

from collector.models import (
    Device,
    Identification,
    IdentificationChange,
    Observation,
    Organisation,
    Report,
    Sighting,
    utcnow,
)
from collector.schemas import (
    DeviceDetail,
    DeviceSummary,
    IdentificationPublic,
    ObservationPublic,
    SightingPublic,
    Summary,
    SummaryCell,
    VerdictChange,
)

SortKey = Literal["last_seen", "-last_seen", "first_seen", "-first_seen", "id", "-id"]


@dataclass(frozen=True)
class DeviceFilter:
    organisation_id: int | None = None
    sector: str | None = None
    vendor: str | None = None
    country: str | None = None
    owner_country: str | None = None
    flagged: bool | None = None
    seen_since: datetime | None = None
    seen_before: datetime | None = None
    first_seen_since: datetime | None = None
    first_seen_before: datetime | None = None
    category: str | None = None
    public_list: str | None = None


def _device_columns() -> list[Any]:
    d, o, i = Device.__table__.c, Organisation.__table__.c, Identification.__table__.c  # type: ignore[attr-defined]
    return [
        d.id, d.organisation_id, o.name.label("organisation"), o.sector, d.site_id, d.mac, d.ip, d.hostname,
        d.first_seen, d.last_seen, i.vendor_id, i.vendor, i.product, i.category, i.country, i.owner_country,
        i.flagged, i.confidence,
    ]


def _joined(columns: list[Any]) -> Any:
    d, o, i = Device.__table__, Organisation.__table__, Identification.__table__  # type: ignore[attr-defined]
    return select(*columns).select_from(d.join(o, o.c.id == d.c.organisation_id).outerjoin(i, i.c.device_id == d.c.id))


def _filtered(q: Any, f: DeviceFilter) -> Any:
    d, o, i = Device.__table__.c, Organisation.__table__.c, Identification.__table__.c  # type: ignore[attr-defined]
    if f.organisation_id is not None:
        q = q.where(d.organisation_id == f.organisation_id)
    if f.sector is not None:
        q = q.where(o.sector == f.sector)
    if f.vendor is not None:
        q = q.where(or_(i.vendor_id == f.vendor.lower(), func.lower(i.vendor) == f.vendor.lower()))
    if f.country is not None:
        q = q.where(i.country == f.country)
    if f.owner_country is not None:
        q = q.where(i.owner_country == f.owner_country)
    if f.flagged is not None:
        q = q.where(i.flagged.is_(True)) if f.flagged else q.where(or_(i.flagged.is_(False), i.flagged.is_(None)))
    if f.seen_since is not None:
        q = q.where(d.last_seen >= f.seen_since)
    if f.seen_before is not None:
        q = q.where(d.last_seen < f.seen_before)
    if f.first_seen_since is not None:
        q = q.where(d.first_seen >= f.first_seen_since)
    if f.first_seen_before is not None:
        q = q.where(d.first_seen < f.first_seen_before)
    if f.category is not None:
        q = q.where(i.category == f.category)
    if f.public_list is not None:  # the vendors on it today, from the catalogue: an IN on the indexed vendor_id
        from fingerprints.lists import vendors_on

        q = q.where(i.vendor_id.in_(sorted(vendors_on(f.public_list))))
    return q


def list_devices(
    session: Session, *, filters: DeviceFilter, sort: SortKey, limit: int, after: tuple[Any, int] | None
) -> tuple[list[DeviceSummary], tuple[Any, int] | None]:
    """One page of devices and the position after its last row (None on the last page)."""
    d = Device.__table__.c  # type: ignore[attr-defined]
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    col = d[field]
    q = _filtered(_joined(_device_columns()), filters)
    if after is not None:
        value, last_id = after
        if field == "id":
            q = q.where(d.id < last_id if descending else d.id > last_id)
        elif descending:
            q = q.where(or_(col < value, and_(col == value, d.id < last_id)))
        else:
            q = q.where(or_(col > value, and_(col == value, d.id > last_id)))
    order = [col.desc(), d.id.desc()] if descending else [col.asc(), d.id.asc()]
    rows = session.execute(q.order_by(*order).limit(limit + 1)).mappings().all()
    items = [DeviceSummary.model_validate(dict(r)) for r in rows[:limit]]
    position = None
    if len(rows) > limit:
        last = items[-1]
        position = (getattr(last, field), last.id)
    return items, position


def device_detail(session: Session, *, device_id: int, history_limit: int = 200) -> DeviceDetail | None:
    d = Device.__table__.c  # type: ignore[attr-defined]
    row = session.execute(
        _joined([*_device_columns(), d.identity_key]).where(d.id == device_id)
    ).mappings().first()
    if row is None:
        return None
    obs = session.execute(
        select(Observation).where(Observation.device_id == device_id).order_by(Observation.kind, Observation.id)  # type: ignore[arg-type]
    ).scalars().all()
    s, r = Sighting.__table__.c, Report.__table__.c  # type: ignore[attr-defined]
    history = session.execute(
        select(r.report_id, s.seen_at, s.ip).select_from(Sighting.__table__.join(Report.__table__, r.id == s.report_id))  # type: ignore[attr-defined]
        .where(s.device_id == device_id).order_by(s.seen_at.desc()).limit(history_limit)
    ).mappings().all()
    ident = session.execute(
        select(Identification).where(col(Identification.device_id) == device_id)
    ).scalars().first()
    c = IdentificationChange.__table__.c  # type: ignore[attr-defined]
    verdicts = session.execute(
        select(c.at, c.change, c.old_vendor_id, c.new_vendor_id, c.old_flagged, c.new_flagged, c.catalogue_version,
               c.policy_version, c.reason).where(c.device_id == device_id).order_by(c.at.desc(), c.id.desc())
        .limit(history_limit)
    ).mappings().all()
    return DeviceDetail(
        **dict(row),
        observations=[ObservationPublic.model_validate(o, from_attributes=True) for o in obs],
        history=[SightingPublic.model_validate(dict(h)) for h in history],
        identification=None if ident is None else IdentificationPublic.model_validate(ident, from_attributes=True),
        verdicts=[VerdictChange.model_validate(dict(v)) for v in verdicts],
    )


def summary(session: Session, *, filters: DeviceFilter) -> Summary:
    """Devices and flagged devices by sector × headquarters country."""
    o, i, d = Organisation.__table__.c, Identification.__table__.c, Device.__table__.c  # type: ignore[attr-defined]
    flagged = func.sum(case((i.flagged.is_(True), 1), else_=0))
    q = _filtered(_joined([o.sector, i.country, func.count(d.id).label("devices"), flagged.label("flagged")]), filters)
    rows = session.execute(q.group_by(o.sector, i.country).order_by(o.sector, i.country)).all()
    cells = [SummaryCell(sector=s, country=c, devices=n, flagged=int(f or 0)) for s, c, n, f in rows]
    return Summary(
        cells=cells, total_devices=sum(c.devices for c in cells), total_flagged=sum(c.flagged for c in cells),
        computed_at=utcnow(),
    )


def iter_devices(session: Session, *, filters: DeviceFilter, batch: int = 2000) -> Iterator[DeviceSummary]:
    """Every matching device in id order, fetched in keyset batches so memory stays flat whatever the size."""
    d = Device.__table__.c  # type: ignore[attr-defined]
    last = 0
    while True:
        q = _filtered(_joined(_device_columns()), filters).where(d.id > last).order_by(d.id).limit(batch)
        rows = session.execute(q).mappings().all()
        if not rows:
            return
        for r in rows:
            yield DeviceSummary.model_validate(dict(r))
        last = rows[-1]["id"]
