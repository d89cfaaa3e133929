"""The collector's error answers: every refusal carries a machine-readable reason.

    ApiError(status, reason, message)      raised anywhere below the routes
      → {"error": {"reason": ..., "message": ..., "details": [...]}}

Validation errors from FastAPI become `invalid_request`; anything unexpected becomes `internal_error` (500), which
client input must never cause.

A busy collector is not a failing one: no connection free in the pool (`collector_busy`), SQLite's writer held by
another process (`database_busy`), the database not answering (`database_unavailable`) and a report that waited too
long for its turn (`ingest_busy`, raised by collector/admission.py) are all 503 with Retry-After, so that agents keep
their report spooled and send it again later.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.db import WriterBusy

log = logging.getLogger("herkomst.collector")


class ApiError(Exception):
    """A refusal with an HTTP status and a machine-readable reason."""

    def __init__(
        self, status: int, reason: str, message: str, details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details or []
        self.headers = headers


def error_body(reason: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": {"reason": reason, "message": message, "details": details or []}}


def error_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors as JSON-safe details (location, message, type), at most 50."""
    out = []
    for err in errors[:50]:
        out.append({"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))[:300],
                    "type": str(err.get("type", ""))})
    return out


_STATUS_REASON = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                  413: "too_large", 415: "unsupported_media_type"}


#: Reasons of the 503 answers that mean "busy, try again later".
BUSY_REASONS = ("collector_busy", "database_busy", "database_unavailable", "ingest_busy")


def busy_reason(exc: BaseException) -> str | None:
    """The 503 reason when `exc` means the collector or its database is busy, else None (a real failure)."""
    if isinstance(exc, sa_exc.TimeoutError | WriterBusy):
        return "collector_busy" if isinstance(exc, sa_exc.TimeoutError) else "database_busy"
    if isinstance(exc, sa_exc.OperationalError):
        if isinstance(exc.orig, sqlite3.Error):  # SQLite's operational errors are mostly not about load
            text = str(exc.orig).lower()
            return "database_busy" if "locked" in text or "busy" in text else None
        return "database_unavailable"  # PostgreSQL: connection lost or refused, too many clients, timeouts
    return None


_BUSY_MESSAGES = {
    "collector_busy": "the collector is busy (no database connection free); send again after Retry-After",
    "database_busy": "the database is busy with another write; send again after Retry-After",
    "database_unavailable": "the database does not answer; send again after Retry-After",
}


def install_handlers(app: FastAPI, on_reject: Any = None, *, retry_after: int = 5) -> None:
    """Answer every error in the one shape; `on_reject(reason)` counts refusals for /metrics."""

    def _count(reason: str) -> None:
        if on_reject is not None:
            on_reject(reason)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        _count(exc.reason)
        return JSONResponse(error_body(exc.reason, exc.message, exc.details), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        _count("invalid_request")
        return JSONResponse(error_body("invalid_request", "the request is not valid", error_details(exc.errors())), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = _STATUS_REASON.get(exc.status_code, f"http_{exc.status_code}")
        _count(reason)
        return JSONResponse(error_body(reason, str(exc.detail)), exc.status_code, headers=exc.headers)

    def _busy_or_failed(exc: Exception) -> JSONResponse:
        reason = busy_reason(exc)
        if reason is None:
            log.error("unexpected database error", exc_info=exc)
            _count("internal_error")
            return JSONResponse(error_body("internal_error", "the collector failed; the request was not stored"), 500)
        log.warning("answered 503 %s: %s", reason, str(exc).splitlines()[0][:200])
        _count(reason)
        return JSONResponse(error_body(reason, _BUSY_MESSAGES[reason]), 503,
                            headers={"Retry-After": str(retry_after)})

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_timeout(_request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        return _busy_or_failed(exc)

    @app.exception_handler(sa_exc.OperationalError)
    async def _operational(_request: Request, exc: sa_exc.OperationalError) -> JSONResponse:
        return _busy_or_failed(exc)

    @app.exception_handler(WriterBusy)
    async def _writer_busy(_request: Request, exc: WriterBusy) -> JSONResponse:
        return _busy_or_failed(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        _count("internal_error")
        return JSONResponse(error_body("internal_error", "the collector failed; the request was not stored"), 500)
