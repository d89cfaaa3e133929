"""Opaque cursors for keyset pagination, and refusal of query parameters a route does not know."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Path, Query, Request

from collector.errors import ApiError

#: Database ids as clients may send them: positive and within a 64-bit integer, so no driver overflows.
MAX_ID = 2**63 - 1
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


def encode_cursor(scope: str, position: dict[str, Any]) -> str:
    raw = json.dumps({"s": scope, **position}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str) -> dict[str, Any]:
    """The position a cursor names; 422 when it is not one of ours for this listing."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "the cursor is not valid; start again without one") from exc
    if not isinstance(position, dict) or position.get("s") != scope or "i" not in position:
        raise ApiError(422, "invalid_cursor", "the cursor belongs to another listing or sort order")
    if not isinstance(position["i"], int) or not 0 <= position["i"] <= MAX_ID:
        raise ApiError(422, "invalid_cursor", "the cursor is not valid; start again without one")
    return position


def reject_unknown_params(request: Request, allowed: set[str]) -> None:
    """A misspelt filter must not silently return everything."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(
            422, "unknown_parameter", f"unknown query parameter(s): {', '.join(unknown)}",
            [{"allowed": sorted(allowed)}],
        )
