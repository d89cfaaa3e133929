"""Inventory reports over the API: analysts list and download stored reports (audited); admins generate them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from collector.api.deps import AdminDep, AuditDep, SessionDep, SettingsDep
from collector.api.paging import CursorsDep, IdPath, reject_unknown_params
from collector.api.responses import AUTHENTICATED, errors
from collector.errors import ApiError
from collector.inventory import filename, generate, get_meta, get_report, list_reports, validate_request
from collector.inventory.pdf import PdfError

router = APIRouter(prefix="/api/v1", tags=["inventory reports"], responses=errors(*AUTHENTICATED))

#: A stored document is sent in slices of this size, so a large report never needs a second copy in memory.
CHUNK = 64 * 1024
#: What a downloaded HTML report may do when a browser opens it: show its own inline styles and SVG, nothing more.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


class InventoryReportPublic(BaseModel):
    id: int
    period: str
    sector: str | None
    format: str
    pseudonymised: bool
    created_at: datetime
    created_by: str
    content_type: str
    sha256: str
    catalogue_version: str | None
    policy_version: str | None


class InventoryReportPage(BaseModel):
    items: list[InventoryReportPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class InventoryReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"period": "2026-11", "sector": "water", "format": "html", "pseudonymise": True}]})
    period: str = Field(max_length=16, description="the month, YYYY-MM (not in the future, not before 2020)")
    sector: str | None = Field(default=None, max_length=64, description="a sector code; all sectors when absent")
    format: Literal["html", "pdf", "csv", "json"] = "html"
    pseudonymise: bool = Field(default=False, description="replace organisation names with keyed-hash pseudonyms")


def _public(row: object) -> InventoryReportPublic:
    return InventoryReportPublic.model_validate(row, from_attributes=True)


@router.get("/inventory-reports", response_model=InventoryReportPage, responses=errors(400))
def list_inventory_reports(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    settings: SettingsDep,
    cursors: CursorsDep,
    period: str | None = Query(default=None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM"),
    sector: str | None = Query(default=None, max_length=64),
    format: Literal["html", "pdf", "csv", "json"] | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = Query(default=None, max_length=200),
) -> InventoryReportPage:
    """Stored inventory reports, newest first (without their content; download one by id)."""
    reject_unknown_params(request, {"period", "sector", "format", "limit", "cursor"})
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    before = int(cursors.decode(cursor, "inventory-reports")["i"]) if cursor is not None else None
    rows = list_reports(session, period=period, sector=sector, fmt=format, limit=limit + 1, before_id=before)
    items = [_public(r) for r in rows[:limit]]
    audit.record(len(items))
    nxt = cursors.encode("inventory-reports", {"i": items[-1].id}) if len(rows) > limit else None
    return InventoryReportPage(items=items, next_cursor=nxt)


def _slices(engine: object, report_id: int) -> Iterator[bytes]:
    with Session(engine) as session:  # type: ignore[arg-type]
        row = get_report(session, report_id=report_id)
        content = b"" if row is None else row.content
    view = memoryview(content)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])


@router.get(
    "/inventory-reports/{report_id}",
    responses={200: {"description": "the stored document (HTML, PDF, CSV or JSON)",
                     "content": {"text/html": {}, "application/pdf": {}, "text/csv": {}, "application/json": {}}},
               **errors(404)},
)
def download_inventory_report(report_id: IdPath, request: Request, session: SessionDep,
                              audit: AuditDep) -> StreamingResponse:
    """Download one stored report as it was generated; the SHA-256 header lets the reader check it."""
    reject_unknown_params(request, set())
    meta = get_meta(session, report_id=report_id)
    if meta is None:
        audit.record(0, status=404)
        raise ApiError(404, "inventory_report_not_found", f"no inventory report {report_id}; "
                       "GET /api/v1/inventory-reports lists them")
    audit.record(1)
    headers = {
        "Content-Disposition": f'attachment; filename="{filename(meta)}"',
        "X-Content-SHA256": meta.sha256,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": REPORT_CSP,
        "Cache-Control": "no-store",
    }
    return StreamingResponse(_slices(request.app.state.engine, report_id), media_type=meta.content_type,
                             headers=headers)


@router.post("/admin/inventory-reports", response_model=InventoryReportPublic, status_code=201,
             responses=errors(422, 503))
async def create_inventory_report(
    body: InventoryReportCreate, request: Request, caller: AdminDep, audit: AuditDep, settings: SettingsDep,
) -> InventoryReportPublic:
    """Generate a report now and keep it; answers with its listing entry (download it by id)."""
    req = validate_request(body.period, body.sector, body.format, body.pseudonymise)
    key = settings.report_pseudonym_key.get_secret_value().encode() if settings.report_pseudonym_key else None
    engine = request.app.state.engine

    def work() -> InventoryReportPublic:
        with Session(engine, expire_on_commit=False) as session:
            row = generate(session, req, created_by=caller.name, pseudonym_key=key)
            session.commit()
            return _public(row)

    try:
        result = await run_in_threadpool(work)
    except PdfError as exc:
        raise ApiError(503, "pdf_unavailable", str(exc)) from exc
    audit.record(1, status=201)
    return result
