"""Analyst reads: devices, one device with its evidence, the sector × country summary, what changed, exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from collector.api.deps import AuditDep, SessionDep, SettingsDep
from collector.api.paging import (
    CursorsDep,
    IdPath,
    IdQuery,
    QueryTime,
    minute_window,
    reject_unknown_params,
)
from collector.api.responses import AUTHENTICATED, errors
from collector.cache import TTLCache
from collector.errors import ApiError
from collector.exports import csv_dict
from collector.models import Device, ExportQuota, IdentificationChange, Organisation
from collector.queries import DeviceFilter, SortKey, device_detail, iter_devices, list_devices, summary
from collector.schemas import ChangePage, ChangePublic, DeviceDetail, DevicePage, DeviceSummary, Summary
from collector.sectors import sectors

router = APIRouter(prefix="/api/v1", tags=["analysts"], responses=errors(*AUTHENTICATED))

_COUNTRY = r"^[A-Z]{2}$"
_FILTERS = {"organisation_id", "sector", "vendor", "country", "owner_country", "flagged", "category", "seen_since",
            "seen_before", "first_seen_since", "first_seen_before", "public_list"}


def device_filter(
    organisation_id: IdQuery = None,
    sector: str | None = Query(default=None, max_length=64, description="sector code, see /api/v1/sectors"),
    vendor: str | None = Query(default=None, max_length=200, description="catalogue vendor id or name"),
    country: str | None = Query(default=None, pattern=_COUNTRY, description="vendor headquarters, ISO 3166"),
    owner_country: str | None = Query(default=None, pattern=_COUNTRY, description="ultimate owner's country"),
    flagged: bool | None = Query(default=None, description="vendor's headquarters or owner on the policy list"),
    category: str | None = Query(default=None, max_length=40, pattern=r"^[a-z0-9-]+$", description="e.g. cctv"),
    seen_since: QueryTime | None = Query(default=None, description="last seen at or after (ISO 8601)"),
    seen_before: QueryTime | None = Query(default=None, description="last seen before"),
    first_seen_since: QueryTime | None = Query(default=None, description="first seen at or after"),
    first_seen_before: QueryTime | None = Query(default=None, description="first seen before"),
    public_list: str | None = Query(default=None, max_length=40, pattern=r"^[a-z0-9-]+$",
                                    description="vendor (or its white-label maker) on this public list today, "
                                    "e.g. fcc-covered, us-entity-list, us-1260h, ndaa-889"),
) -> DeviceFilter:
    """The device filters shared by the list, the summary and the exports."""
    from fingerprints.lists import LIST_NAMES

    if sector is not None and sector not in sectors():
        raise ApiError(422, "unknown_sector", f"unknown sector {sector[:64]!r}; see GET /api/v1/sectors")
    if public_list is not None and public_list not in LIST_NAMES:
        raise ApiError(422, "unknown_list", f"unknown public list {public_list!r}; one of {', '.join(LIST_NAMES)}")
    return DeviceFilter(organisation_id, sector, vendor, country, owner_country, flagged, seen_since, seen_before,
                        first_seen_since, first_seen_before, category, public_list)


FilterDep = Annotated[DeviceFilter, Depends(device_filter)]


@router.get("/devices", response_model=DevicePage, responses=errors(400))
def get_devices(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    settings: SettingsDep,
    cursors: CursorsDep,
    filters: FilterDep,
    sort: SortKey = "-last_seen",
    limit: Annotated[int, Query(ge=1)] = 100,
    cursor: str | None = Query(default=None, max_length=400),
) -> DevicePage:
    """Devices, filtered, sorted, one page at a time (follow next_cursor)."""
    reject_unknown_params(request, _FILTERS | {"sort", "limit", "cursor"})
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    after: tuple[Any, int] | None = None
    if cursor is not None:
        pos = cursors.decode(cursor, f"devices:{sort}")
        value = pos.get("v")
        if sort.lstrip("-") != "id":
            try:
                value = datetime.fromisoformat(str(value))
            except ValueError as exc:
                raise ApiError(400, "invalid_cursor", "the cursor is not valid; start again without one") from exc
        after = (value, pos["i"])
    items, position = list_devices(session, filters=filters, sort=sort, limit=limit, after=after)
    audit.record(len(items))
    nxt = None
    if position is not None:
        nxt = cursors.encode(f"devices:{sort}", {"v": position[0], "i": position[1]})
    return DevicePage(items=items, next_cursor=nxt)


@router.get("/devices/{device_id}", response_model=DeviceDetail, responses=errors(404))
def get_device(device_id: IdPath, request: Request, session: SessionDep, audit: AuditDep) -> DeviceDetail:
    """One device: its observations, its history and its identification with the evidence."""
    reject_unknown_params(request, set())
    detail = device_detail(session, device_id=device_id)
    if detail is None:
        audit.record(0, status=404)
        raise ApiError(404, "device_not_found", f"no device {device_id}")
    audit.record(1)
    return detail


@router.get("/summary", response_model=Summary)
def get_summary(request: Request, session: SessionDep, audit: AuditDep, filters: FilterDep) -> Summary:
    """Device counts by sector × vendor headquarters country, with the flagged share (`computed_at` says when they
    were counted: answers may come from memory for HERKOMST_SUMMARY_CACHE_SECONDS)."""
    reject_unknown_params(request, _FILTERS)
    cache: TTLCache[Summary] = request.app.state.summary_cache
    result = cache.get_or_compute(filters, lambda: summary(session, filters=filters))
    audit.record(len(result.cells))
    return result


@router.get("/changes", response_model=ChangePage, responses=errors(400))
def get_changes(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    settings: SettingsDep,
    cursors: CursorsDep,
    since: QueryTime | None = Query(default=None, description="changes recorded at or after this time"),
    catalogue_version: str | None = Query(default=None, max_length=32, pattern=r"^[A-Za-z0-9._-]+$",
                                          description="changes made by re-attribution with this catalogue"),
    change: Literal["identified", "flagged", "unflagged", "vendor_changed"] | None = None,
    reason: Literal["evidence", "catalogue", "policy"] | None = Query(
        default=None, description="only changes from new evidence, better data, or a new policy"),
    organisation_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    cursor: str | None = Query(default=None, max_length=200),
) -> ChangePage:
    """What changed since a date or a catalogue version: newly flagged, no longer flagged, vendor changed — and
    why (a new report, better data, a new policy)."""
    reject_unknown_params(request, {"since", "catalogue_version", "change", "reason", "organisation_id", "limit",
                                    "cursor"})
    if since is None and catalogue_version is None:
        raise ApiError(422, "missing_parameter", "give `since` (ISO 8601) or `catalogue_version`")
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    c, d, o = (IdentificationChange.__table__.c, Device.__table__.c,  # type: ignore[attr-defined]
               Organisation.__table__.c)  # type: ignore[attr-defined]
    q = select(c.id, c.device_id, o.name.label("organisation"), o.sector, c.at, c.change, c.old_vendor_id,
               c.new_vendor_id, c.old_flagged, c.new_flagged, c.catalogue_version, c.policy_version,
               c.reason).select_from(
        IdentificationChange.__table__.join(Device.__table__, d.id == c.device_id)  # type: ignore[attr-defined]
        .join(Organisation.__table__, o.id == d.organisation_id)  # type: ignore[attr-defined]
    )
    if since is not None:
        q = q.where(c.at >= since)
    if catalogue_version is not None:
        q = q.where(c.catalogue_version == catalogue_version)
    if change is not None:
        q = q.where(c.change == change)
    if reason is not None:
        q = q.where(c.reason == reason)
    if organisation_id is not None:
        q = q.where(d.organisation_id == organisation_id)
    if cursor is not None:
        q = q.where(c.id > cursors.decode(cursor, "changes")["i"])
    rows = session.execute(q.order_by(c.id).limit(limit + 1)).mappings().all()
    items = [ChangePublic.model_validate(dict(r)) for r in rows[:limit]]
    audit.record(len(items))
    nxt = cursors.encode("changes", {"i": items[-1].id}) if len(rows) > limit else None
    return ChangePage(items=items, next_cursor=nxt)


EXPORTS_PER_MINUTE = 6
_CSV_FIELDS = list(DeviceSummary.model_fields)


def _check_export_rate(session: Session, token_id: int) -> None:
    """Exports are heavy: at most EXPORTS_PER_MINUTE per token per clock minute, counted in the database in one
    atomic statement (INSERT … ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n), so it holds across processes and
    under concurrent requests."""
    table = ExportQuota.__table__  # type: ignore[attr-defined]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(token_id=token_id, minute=minute_window(), n=1)
    upsert = stmt.on_conflict_do_update(index_elements=[table.c.token_id, table.c.minute],
                                        set_={"n": table.c.n + 1}).returning(table.c.n)
    n = session.execute(upsert).scalar_one()
    session.execute(delete(table).where(table.c.token_id == token_id, table.c.minute < minute_window() - 1))
    session.commit()
    if n > EXPORTS_PER_MINUTE:
        raise ApiError(429, "rate_limited", f"at most {EXPORTS_PER_MINUTE} exports a minute per token; try again "
                       "in a minute", headers={"Retry-After": "60"})


@router.get("/export/devices.{fmt}", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/x-ndjson": {"schema": {"type": "string"}}}},
                       **errors(429)})
def export_devices(
    fmt: Literal["csv", "jsonl"], request: Request, session: SessionDep, audit: AuditDep, filters: FilterDep,
) -> StreamingResponse:
    """Every device matching the filters, streamed as CSV or JSON lines (audited, a few per minute per token)."""
    reject_unknown_params(request, _FILTERS)
    _check_export_rate(session, audit.caller.token_id)
    # The audit row is written before streaming: an export that is cut off was still an export.
    count = summary(session, filters=filters).total_devices
    audit.record(count)
    engine = request.app.state.engine

    def rows() -> Iterator[bytes]:
        with Session(engine) as stream_session:
            if fmt == "csv":
                buf = io.StringIO()
                writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS)
                writer.writeheader()
                for item in iter_devices(stream_session, filters=filters):
                    writer.writerow(csv_dict(item.model_dump(mode="json")))
                    if buf.tell() > 65536:
                        yield buf.getvalue().encode()
                        buf.seek(0)
                        buf.truncate()
                yield buf.getvalue().encode()
            else:
                for item in iter_devices(stream_session, filters=filters):
                    yield (json.dumps(item.model_dump(mode="json")) + "\n").encode()

    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(rows(), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="herkomst-devices.{fmt}"'})
