"""The error answers, as OpenAPI declares them: every route lists the refusals it can give, in the one shape of
collector/errors.py (`{"error": {"reason", "message", "details"}}`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    reason: str = Field(description="machine-readable, e.g. invalid_request, rate_limited")
    message: str
    details: list[Any] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "malformed request (e.g. a cursor that does not decode or verify)",
    401: "no, unknown, revoked or expired credential",
    403: "the credential may not do this",
    404: "no such object",
    409: "conflicts with what is stored",
    413: "too large",
    415: "unsupported media type",
    422: "invalid parameters or body",
    429: "rate limited; see Retry-After",
    503: "the collector cannot answer now",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the given error statuses, each with the standard error body."""
    return {code: {"description": _DESCRIPTIONS.get(code, "refused"), "model": ErrorBody} for code in codes}


#: What every authenticated API route can answer.
AUTHENTICATED = (401, 403, 422, 503)
