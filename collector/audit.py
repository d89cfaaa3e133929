"""The audit log: every analyst request, every admin action and every refused request (who, route, reason, time),
append-only, each row chained to the one before it by a hash so that an edit or a deletion is detectable.

    append(session, …)      one row, chained (the caller's session; committed here)
    verify(session)         walk the chain: how many rows, the first one that does not hold
    search(session, …)      rows by time, token, route, status, newest first, paged by id

Append-only is enforced in the database: triggers refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL) on
`audit_log`, whoever asks through the collector. A database superuser can still remove the triggers; the chain is
what shows it afterwards (`herkomst collector audit verify`). Rows written before the chain existed (migration 0006)
carry no hash and are counted apart.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session

from collector.models import AuditLog, utcnow

#: The hash before the first chained row.
GENESIS = "0" * 64
#: PostgreSQL transaction-level advisory lock that serialises appends, so that the chain never forks.
_CHAIN_LOCK = 0x6865726B_6175640A  # "herk" "aud\n"
#: The same within one process on SQLite (which has one writer anyway).
_sqlite_chain = threading.Lock()

FIELDS = ("at", "token_id", "token_name", "role", "method", "route", "query", "rows", "status", "reason")


def _canonical(row: dict[str, Any], prev_hash: str) -> bytes:
    values = dict(row)
    at = values["at"]
    if isinstance(at, datetime):
        values["at"] = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"prev": prev_hash, **{k: values[k] for k in FIELDS}}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: dict[str, Any], prev_hash: str) -> str:
    """The hash that chains `row` to the row before it."""
    return hashlib.sha256(_canonical(row, prev_hash)).hexdigest()


def append(session: Session, *, token_id: int | None, token_name: str, role: str, method: str, route: str,
           query: str = "[]", rows: int = 0, status: int = 200, reason: str = "",
           at: datetime | None = None) -> None:
    """Write one audit row chained to the last, in a transaction of its own on `session` (its reads end here)."""
    session.commit()
    row = {"at": at or utcnow(), "token_id": token_id,
           "token_name": token_name[:200], "role": role[:16], "method": method[:8], "route": route[:200],
           "query": query, "rows": rows, "status": status, "reason": reason[:64]}
    table = AuditLog.__table__  # type: ignore[attr-defined]
    postgres = session.get_bind().dialect.name == "postgresql"
    lock = _sqlite_chain if not postgres else None
    if lock is not None:
        lock.acquire()
    try:
        if postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
        last = session.execute(select(table.c.row_hash).where(table.c.row_hash.is_not(None))
                               .order_by(table.c.id.desc()).limit(1)).scalar()
        prev = last or GENESIS
        session.execute(table.insert().values(**row, prev_hash=prev, row_hash=row_hash(row, prev)))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if lock is not None:
            lock.release()


@dataclass(frozen=True)
class Verification:
    rows: int
    chained: int
    unchained_before: int
    broken_at: int | None
    problem: str

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(session: Session, *, batch: int = 5000) -> Verification:
    """Recompute the chain from its first row; the first row whose hash or link does not hold is named."""
    table = AuditLog.__table__  # type: ignore[attr-defined]
    cols = [table.c.id, *(table.c[f] for f in FIELDS), table.c.prev_hash, table.c.row_hash]
    prev: str | None = None
    rows = chained = unchained = 0
    after = 0
    while True:
        chunk = session.execute(select(*cols).where(table.c.id > after).order_by(table.c.id).limit(batch)).mappings()
        got = list(chunk)
        if not got:
            break
        for r in got:
            rows += 1
            after = r["id"]
            if r["row_hash"] is None:
                if prev is not None:
                    return Verification(rows, chained, unchained, r["id"], "a row without a hash inside the chain")
                unchained += 1
                continue
            expected_prev = prev if prev is not None else GENESIS
            if r["prev_hash"] != expected_prev:
                return Verification(rows, chained, unchained, r["id"],
                                    "its link does not name the row before it: a row before it was removed or "
                                    "changed")
            if row_hash(dict(r), r["prev_hash"]) != r["row_hash"]:
                return Verification(rows, chained, unchained, r["id"], "its content does not match its hash: the "
                                    "row was changed")
            prev = r["row_hash"]
            chained += 1
    return Verification(rows, chained, unchained, None, "")


def search(session: Session, *, since: datetime | None = None, until: datetime | None = None,
           token_name: str | None = None, route: str | None = None, status: int | None = None,
           refused: bool | None = None, before_id: int | None = None, limit: int = 100) -> list[AuditLog]:
    """Audit rows, newest first; `refused`: only answers of 400 and above (or only below)."""
    c = AuditLog.__table__.c  # type: ignore[attr-defined]
    q = select(AuditLog)
    if since is not None:
        q = q.where(c.at >= since)
    if until is not None:
        q = q.where(c.at < until)
    if token_name is not None:
        q = q.where(c.token_name == token_name)
    if route is not None:
        q = q.where(c.route == route)
    if status is not None:
        q = q.where(c.status == status)
    if refused is not None:
        q = q.where(c.status >= 400 if refused else c.status < 400)
    if before_id is not None:
        q = q.where(c.id < before_id)
    return list(session.execute(q.order_by(c.id.desc()).limit(limit)).scalars())


def append_only_ddl(dialect: str) -> tuple[list[str], list[str]]:
    """(create, drop) statements of the triggers that keep audit_log append-only."""
    if dialect == "postgresql":
        return ([
            "CREATE OR REPLACE FUNCTION herkomst_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION herkomst_audit_append_only()",
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION herkomst_audit_append_only()",
        ], [
            "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
            "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
            "DROP FUNCTION IF EXISTS herkomst_audit_append_only()",
        ])
    return ([
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ], [
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ])
