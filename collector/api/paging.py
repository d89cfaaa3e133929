"""Opaque, signed cursors for keyset pagination; refusal of query parameters a route does not know or that carry
control characters; the integer and datetime types every route accepts.

Cursors are `base64url(json) "." base64url(HMAC-SHA256(key, json)[:16])`. The key is HERKOMST_CURSOR_KEY, or else a
random key created once and kept in the database (table collector_secret), so that every collector process on one
database accepts the cursors of the others. A cursor that does not decode or verify is a 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from fastapi import Depends, Path, Query, Request
from pydantic import AfterValidator
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from collector.errors import ApiError
from collector.models import CollectorSecret, utcnow
from collector.schemas import MAX_ID
from fingerprints.report import refuse_control_chars

IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]

#: Datetimes both databases can store, in UTC, with a day to spare for any time zone offset.
EARLIEST_QUERY_TIME = datetime(1, 1, 2, tzinfo=UTC)
LATEST_QUERY_TIME = datetime(9999, 12, 30, tzinfo=UTC)


def _storable(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is outside 0001-01-02 … 9999-12-30 (UTC)") from exc
    if not EARLIEST_QUERY_TIME <= utc <= LATEST_QUERY_TIME:
        raise ValueError("the time is outside 0001-01-02 … 9999-12-30 (UTC)")
    return value


#: A datetime query parameter: ISO 8601, within what the databases store (else 422).
QueryTime = Annotated[datetime, AfterValidator(_storable)]

_ASCII_DIGITS = re.compile(r"[0-9]+")


def ascii_int(raw: str, max_digits: int = 18) -> int | None:
    """`raw` as an integer when it is 1 to `max_digits` ASCII digits, else None (Python's int() would also take
    '١' and str.isdigit() '²')."""
    if len(raw) > max_digits or not _ASCII_DIGITS.fullmatch(raw):
        return None
    return int(raw)


# ---------------------------------------------------------------- cursor key

CURSOR_KEY_NAME = "cursor_hmac_key"
_db_keys: WeakKeyDictionary[Engine, bytes] = WeakKeyDictionary()
_db_keys_lock = threading.Lock()


def database_cursor_key(engine: Engine) -> bytes:
    """The cursor key kept in the database, created on first use (concurrent first uses agree on one)."""
    with _db_keys_lock:
        key = _db_keys.get(engine)
    if key is not None:
        return key
    table = CollectorSecret.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        value = conn.execute(select(table.c.value).where(table.c.name == CURSOR_KEY_NAME)).scalar_one_or_none()
    if value is None:
        try:
            with engine.begin() as conn:
                conn.execute(insert(table).values(name=CURSOR_KEY_NAME, value=secrets.token_hex(32),
                                                  created_at=utcnow()))
        except IntegrityError:  # another process created it first: use theirs
            pass
        with engine.begin() as conn:
            value = conn.execute(select(table.c.value).where(table.c.name == CURSOR_KEY_NAME)).scalar_one()
    key = bytes.fromhex(value)
    with _db_keys_lock:
        _db_keys[engine] = key
    return key


def cursor_key_for(request: Request) -> bytes:
    """The cursor key of the collector serving `request`: the configured one, else the database's."""
    settings = getattr(request.app.state, "settings", None)
    configured = getattr(settings, "cursor_key", None)
    if configured is not None:
        return hashlib.sha256(configured.get_secret_value().encode()).digest()
    return database_cursor_key(request.app.state.engine)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(message: str = "the cursor is not valid; start again without one") -> ApiError:
    return ApiError(400, "invalid_cursor", message)


class Cursors:
    """Signs and verifies the cursors of one collector (one key): what a paged route gets through `CursorsDep`."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, raw: bytes) -> bytes:
        return hmac.new(self._key, raw, hashlib.sha256).digest()[:16]

    def encode(self, scope: str, position: dict[str, Any]) -> str:
        raw = json.dumps({"s": scope, **position}, separators=(",", ":"), default=str).encode()
        return f"{_b64(raw)}.{_b64(self._sign(raw))}"

    def decode(self, cursor: str, scope: str) -> dict[str, Any]:
        """The position a signed cursor names; 400 when it does not decode, verify, or belong to this listing."""
        body, dot, tag = cursor.partition(".")
        if not dot or not cursor.isascii():
            raise _invalid()
        try:
            raw, mac = _unb64(body), _unb64(tag)
        except ValueError as exc:
            raise _invalid() from exc
        if not hmac.compare_digest(mac, self._sign(raw)):
            raise _invalid("the cursor was not made by this collector or was altered; start again without one")
        try:
            position = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _invalid() from exc
        if not isinstance(position, dict) or position.get("s") != scope or "i" not in position:
            raise _invalid("the cursor belongs to another listing or sort order")
        i = position["i"]
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= MAX_ID:
            raise _invalid()
        return position


def cursors_for(request: Request) -> Cursors:
    return Cursors(cursor_key_for(request))


CursorsDep = Annotated[Cursors, Depends(cursors_for)]


# ---------------------------------------------------------------- query strings


def refuse_control_in_query(request: Request) -> None:
    """422 naming the parameter when a query parameter's name or value carries a control character (NUL …)."""
    for name, value in request.query_params.multi_items():
        for part in (name, value):
            try:
                refuse_control_chars(part)
            except ValueError as exc:
                raise ApiError(422, "invalid_request", "the request is not valid", [
                    {"loc": ["query", refuse_safe(name)], "msg": str(exc), "type": "control_character"}]) from exc


def refuse_safe(name: str) -> str:
    """A parameter name fit to echo back: control characters shown as escapes, at most 64 characters."""
    return name.encode("unicode_escape").decode("ascii")[:64]


def reject_unknown_params(request: Request, allowed: set[str]) -> None:
    """A misspelt filter must not silently return everything; no parameter may carry control characters."""
    refuse_control_in_query(request)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(
            422, "unknown_parameter", f"unknown query parameter(s): {', '.join(refuse_safe(u) for u in unknown)}",
            [{"allowed": sorted(allowed)}],
        )


def minute_window(now: datetime | None = None) -> int:
    """Minutes since the Unix epoch (UTC): the window of the export quota."""
    now = now or utcnow()
    return int((now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(minutes=1))
