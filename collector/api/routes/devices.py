"""Analyst reads: devices, one device with its evidence, and the sector × country summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from collector.api.deps import AuditDep, SessionDep, SettingsDep
from collector.api.paging import decode_cursor, encode_cursor, reject_unknown_params
from collector.errors import ApiError
from collector.queries import DeviceFilter, SortKey, device_detail, list_devices, summary
from collector.schemas import DeviceDetail, DevicePage, Summary
from collector.sectors import sectors

router = APIRouter(prefix="/api/v1", tags=["analysts"])

_COUNTRY = r"^[A-Z]{2}$"
_FILTERS = {"organisation_id", "sector", "vendor", "country", "owner_country", "flagged", "seen_since"}


def _filters(
    organisation_id: int | None, sector: str | None, vendor: str | None, country: str | None,
    owner_country: str | None, flagged: bool | None, seen_since: datetime | None,
) -> DeviceFilter:
    if sector is not None and sector not in sectors():
        raise ApiError(422, "unknown_sector", f"unknown sector {sector[:64]!r}; see GET /api/v1/sectors")
    return DeviceFilter(organisation_id, sector, vendor, country, owner_country, flagged, seen_since)


@router.get("/devices", response_model=DevicePage)
def get_devices(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    settings: SettingsDep,
    organisation_id: int | None = None,
    sector: str | None = Query(default=None, max_length=64),
    vendor: str | None = Query(default=None, max_length=200, description="catalogue vendor id or name"),
    country: str | None = Query(default=None, pattern=_COUNTRY, description="vendor headquarters, ISO 3166"),
    owner_country: str | None = Query(default=None, pattern=_COUNTRY, description="ultimate owner's country"),
    flagged: bool | None = None,
    seen_since: datetime | None = Query(default=None, description="last seen at or after (ISO 8601)"),
    sort: SortKey = "-last_seen",
    limit: Annotated[int, Query(ge=1)] = 100,
    cursor: str | None = Query(default=None, max_length=400),
) -> DevicePage:
    """Devices, filtered, sorted, one page at a time (follow next_cursor)."""
    reject_unknown_params(request, _FILTERS | {"sort", "limit", "cursor"})
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    f = _filters(organisation_id, sector, vendor, country, owner_country, flagged, seen_since)
    after: tuple[Any, int] | None = None
    if cursor is not None:
        pos = decode_cursor(cursor, f"devices:{sort}")
        value = pos.get("v")
        if sort.lstrip("-") != "id":
            try:
                value = datetime.fromisoformat(str(value))
            except ValueError as exc:
                raise ApiError(422, "invalid_cursor", "the cursor is not valid; start again without one") from exc
        after = (value, pos["i"])
    items, position = list_devices(session, filters=f, sort=sort, limit=limit, after=after)
    audit.record(len(items))
    nxt = None
    if position is not None:
        nxt = encode_cursor(f"devices:{sort}", {"v": position[0], "i": position[1]})
    return DevicePage(items=items, next_cursor=nxt)


@router.get("/devices/{device_id}", response_model=DeviceDetail)
def get_device(device_id: int, request: Request, session: SessionDep, audit: AuditDep) -> DeviceDetail:
    """One device: its observations, its history and its identification with the evidence."""
    reject_unknown_params(request, set())
    detail = device_detail(session, device_id=device_id)
    if detail is None:
        audit.record(0, status=404)
        raise ApiError(404, "device_not_found", f"no device {device_id}")
    audit.record(1)
    return detail


@router.get("/summary", response_model=Summary)
def get_summary(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    organisation_id: int | None = None,
    sector: str | None = Query(default=None, max_length=64),
    flagged: bool | None = None,
    seen_since: datetime | None = None,
) -> Summary:
    """Device counts by sector × vendor headquarters country, with the flagged share."""
    reject_unknown_params(request, {"organisation_id", "sector", "flagged", "seen_since"})
    result = summary(session, filters=_filters(organisation_id, sector, None, None, None, flagged, seen_since))
    audit.record(len(result.cells))
    return result
