"""Database engines and sessions. The backend is chosen by the URL scheme: sqlite:// or postgresql+psycopg://."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets analysts read while an agent's report is written. FULL: a receipt means the report survives a
    # power cut too, since the agent deletes its spooled copy when it gets one.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the URL, with SQLite set up for concurrent readers and one writer."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


# SQLite has one writer; serialising this process's write transactions avoids lock-upgrade failures between threads.
_sqlite_writer = threading.Lock()


#: Bound parameters per IN (...) list: well below SQLite's 32,766 and PostgreSQL's 65,535.
IN_CHUNK = 900


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """`items` in slices small enough for one IN (...) list."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """Hold this around a write transaction: a process-wide lock on SQLite, nothing on PostgreSQL."""
    return _sqlite_writer if engine.dialect.name == "sqlite" else nullcontext()
