"""Device search for the web view: one text box over vendor, product, organisation, host name, address and MAC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session

from collector.models import Device, Identification, Organisation


@dataclass(frozen=True)
class DeviceQuery:
    text: str | None = None
    flagged: bool | None = None
    sector: str | None = None
    country: str | None = None


def _like(text: str) -> str:
    # The user's % and _ are literal characters, not wildcards.
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_devices(session: Session, *, query: DeviceQuery, limit: int, after: int | None) -> list[dict[str, Any]]:
    """Up to `limit` devices matching the query, by id, with their identification detail (the evidence)."""
    d, o, i = Device.__table__, Organisation.__table__, Identification.__table__  # type: ignore[attr-defined]
    q = select(
        d.c.id, d.c.mac, d.c.ip, d.c.hostname, d.c.first_seen, d.c.last_seen, o.c.name.label("organisation"),
        o.c.sector, i.c.vendor, i.c.vendor_id, i.c.product, i.c.device_type, i.c.country, i.c.owner_country,
        i.c.flagged, i.c.confidence, i.c.origin, i.c.detail, i.c.catalogue_version, i.c.policy_version,
    ).select_from(d.join(o, o.c.id == d.c.organisation_id).outerjoin(i, i.c.device_id == d.c.id))
    if query.text:
        pattern = _like(query.text)
        q = q.where(or_(*(func.lower(c).like(pattern, escape="\\") for c in (
            i.c.vendor, i.c.vendor_id, i.c.product, i.c.device_type, o.c.name, d.c.hostname, d.c.ip, d.c.mac))))
    if query.flagged is not None:
        q = q.where(i.c.flagged.is_(True)) if query.flagged else q.where(
            or_(i.c.flagged.is_(False), i.c.flagged.is_(None)))
    if query.sector is not None:
        q = q.where(o.c.sector == query.sector)
    if query.country is not None:
        q = q.where(or_(i.c.country == query.country, i.c.owner_country == query.country))
    if after is not None:
        q = q.where(d.c.id > after)
    return [dict(r) for r in session.execute(q.order_by(d.c.id).limit(limit)).mappings()]
