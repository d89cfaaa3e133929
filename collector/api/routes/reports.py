"""Report ingest (agents) and the ingest log (analysts)."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from collector import fleet
from collector.admission import Admission
from collector.api.deps import AgentDep, AuditDep, MetricsDep, SessionDep, SettingsDep
from collector.api.paging import CursorsDep, IdQuery, QueryTime, reject_unknown_params
from collector.api.responses import AUTHENTICATED, ErrorBody, errors
from collector.attribution import attribute_report
from collector.cache import TTLCache
from collector.db import writer_lock
from collector.errors import ApiError
from collector.ingest import (
    Body,
    compress_for_storage,
    duplicate_receipt,
    gc_paused,
    inspect_body,
    parse_report,
    store_report,
)
from collector.models import Agent, Report
from collector.schemas import Receipt, ReportLogEntry, ReportLogPage

router = APIRouter(prefix="/api/v1", tags=["reports"])

log = logging.getLogger("herkomst.collector")


def _declared_length(request: Request, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not (declared.isascii() and declared.isdigit()):
        raise ApiError(400, "bad_content_length", "Content-Length is not a number")
    if int(declared) > limit:
        raise ApiError(413, "too_large", f"the body exceeds {limit} bytes; split the report or raise the limit")
    return int(declared)


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"the body exceeds {limit} bytes; split the report or raise the limit")
    return bytes(body)


def _store(engine: Engine, agent: Agent, body: Body, writer_wait: float) -> tuple[Receipt, bool]:
    """Parse and store a report (in a worker thread); the SQLite writer is waited for at most `writer_wait` s."""
    with Session(engine, expire_on_commit=False) as session:
        # The proposal in force reaches the agent with every receipt, a duplicate's too (advice, never stored in it).
        proposal = fleet.current_proposal(session, agent.id)
        earlier = duplicate_receipt(session, agent=agent, content_sha256=body.sha256)
    receipt, new = (earlier, False) if earlier is not None else _store_new(engine, agent, body, writer_wait)
    receipt.proposal = proposal
    return receipt, new


def _store_new(engine: Engine, agent: Agent, body: Body, writer_wait: float) -> tuple[Receipt, bool]:
    with gc_paused():
        parsed = parse_report(body, site_id=agent.site_id)
        gzipped = body.wire if body.gzipped else compress_for_storage(body.wire)
        with writer_lock(engine, timeout=writer_wait), Session(engine, expire_on_commit=False) as session:
            try:
                receipt, new = store_report(session, agent=agent, parsed=parsed, content_sha256=body.sha256,
                                            raw_gzip=gzipped, raw_size=body.size)
                session.commit()
            except IntegrityError:
                # The same report id committed by a concurrent request first (PostgreSQL): answer as a duplicate.
                session.rollback()
                earlier = duplicate_receipt(session, agent=agent, report_id=str(parsed.header.report_id),
                                            content_sha256=body.sha256)
                if earlier is None:
                    raise
                return earlier, False
            except BaseException:
                session.rollback()
                raise
        del parsed
    return receipt, new


def _attribute(engine: Engine, report_id: str, summary_cache: TTLCache[Any]) -> None:
    try:
        attribute_report(engine, report_id)
        summary_cache.clear()
    except Exception:  # logged, retried by re-attribution; the report itself is safe
        log.exception("attribution of report %s failed", report_id)


@router.post(
    "/reports",
    response_model=Receipt,
    status_code=201,
    responses={
        200: {"description": "already stored: the original receipt", "model": Receipt},
        **errors(400, 401, 403, 413, 415, 422, 503),
        409: {"description": "the report_id was stored with other content", "model": ErrorBody},
        503: {"description": "the collector is busy: send the same report again after Retry-After seconds",
              "model": ErrorBody},
    },
)
async def submit_report(
    request: Request, background: BackgroundTasks, agent: AgentDep, settings: SettingsDep, metrics: MetricsDep
) -> JSONResponse:
    """Submit one report (JSON, optionally gzip with Content-Encoding: gzip). Idempotent on report_id."""
    started = time.perf_counter()
    declared = _declared_length(request, settings.max_body_bytes)
    engine = request.app.state.engine
    encoding = request.headers.get("content-encoding")
    admission: Admission = request.app.state.admission
    metrics.ingest_waiting.inc()
    waiting = True
    try:
        async with admission.body(declared if declared is not None else settings.max_body_bytes):
            wire = await _read_body(request, settings.max_body_bytes)
            body = await run_in_threadpool(inspect_body, wire, encoding,
                                           max_decompressed=settings.max_decompressed_bytes)
            async with admission.ingest(body.size) as writer_wait:
                metrics.ingest_waiting.dec()
                waiting = False
                with metrics.ingest_running.track_inprogress():
                    receipt, new = await run_in_threadpool(_store, engine, agent, body, writer_wait)
    finally:
        if waiting:
            metrics.ingest_waiting.dec()
    if new:
        request.app.state.summary_cache.clear()
    if new and settings.attribute_on_ingest:
        # Attribution runs after the receipt: a stored report is never refused because identification failed,
        # and `herkomst collector reattribute` catches up on anything missed.
        background.add_task(_attribute, engine, receipt.report_id, request.app.state.summary_cache)
    metrics.ingest_seconds.observe(time.perf_counter() - started)
    metrics.reports.labels("new" if new else "duplicate").inc()
    if new:
        for state in ("new", "updated"):
            metrics.devices.labels(state).inc(getattr(receipt.devices, state))
            metrics.observations.labels(state).inc(getattr(receipt.observations, state))
    return JSONResponse(receipt.model_dump(mode="json"), status_code=201 if new else 200)


@router.get("/reports", response_model=ReportLogPage, responses=errors(400, *AUTHENTICATED))
def list_reports(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    settings: SettingsDep,
    cursors: CursorsDep,
    organisation_id: IdQuery = None,
    agent_id: str | None = Query(default=None, max_length=36),
    since: QueryTime | None = Query(default=None, description="received at or after"),
    limit: Annotated[int, Query(ge=1)] = 100,
    cursor: str | None = Query(default=None, max_length=200),
) -> ReportLogPage:
    """The ingest log, newest first."""
    reject_unknown_params(request, {"organisation_id", "agent_id", "since", "limit", "cursor"})
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    q = select(Report).order_by(col(Report.id).desc())
    if organisation_id is not None:
        q = q.where(col(Report.organisation_id) == organisation_id)
    if agent_id is not None:
        q = q.where(col(Report.agent_id) == agent_id)
    if since is not None:
        q = q.where(col(Report.received_at) >= since)
    if cursor is not None:
        q = q.where(col(Report.id) < int(cursors.decode(cursor, "reports")["i"]))
    rows = list(session.execute(q.limit(limit + 1)).scalars())
    page = rows[:limit]
    items = [ReportLogEntry.model_validate(r, from_attributes=True) for r in page]
    audit.record(len(items))
    nxt = cursors.encode("reports", {"i": page[-1].id}) if len(rows) > limit else None
    return ReportLogPage(items=items, next_cursor=nxt)
