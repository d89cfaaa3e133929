"""The collector's error answers: every refusal carries a machine-readable reason.

    ApiError(status, reason, message)      raised anywhere below the routes
      → {"error": {"reason": ..., "message": ..., "details": [...]}}

Validation errors from FastAPI become `invalid_request`; anything unexpected becomes `internal_error` (500), which
client input must never cause.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def install_handlers(app: FastAPI, on_reject: Any = None) -> None:
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

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        _count("internal_error")
        return JSONResponse(error_body("internal_error", "the collector failed; the request was not stored"), 500)
