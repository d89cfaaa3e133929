"""Database engines and sessions. The backend is chosen by the URL scheme: sqlite:// or postgresql+psycopg://."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
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


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 30, pool_timeout: float = 10.0) -> Engine:
    """An engine for the URL, with SQLite set up for concurrent readers and one writer.

    The pool allows `pool_size + max_overflow` connections; a request that waits longer than `pool_timeout` for one
    gets sqlalchemy.exc.TimeoutError, which the API answers with 503 and Retry-After (collector/errors.py). Each
    request holds at most one connection at a time (collector/api/deps.py), so the default 40 equals the thread
    pool that runs the handlers and nobody waits on the pool while the collector is merely busy.
    """
    url = normalise_url(url)
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if parsed.database in (None, "", ":memory:"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        else:
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


# SQLite has one writer; serialising this process's write transactions avoids lock-upgrade failures between threads.
_sqlite_writer = threading.Lock()


class WriterBusy(Exception):
    """The SQLite writer lock was not free within the wait allowed: the collector is busy (answered 503)."""


#: Bound parameters per IN (...) list: well below SQLite's 32,766 and PostgreSQL's 65,535.
IN_CHUNK = 900


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """`items` in slices small enough for one IN (...) list."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def writer_lock(engine: Engine, timeout: float | None = None) -> AbstractContextManager[Any]:
    """Hold this around a write transaction: a process-wide lock on SQLite, nothing on PostgreSQL.

    With a `timeout`, WriterBusy is raised when the lock is not free in time (instead of waiting without end).
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    if timeout is None:
        return _sqlite_writer
    return _timed(_sqlite_writer, timeout)


@contextmanager
def _timed(lock: threading.Lock, timeout: float) -> Iterator[None]:
    if not lock.acquire(timeout=timeout):
        raise WriterBusy(f"another report was being written for {timeout:.0f} s")
    try:
        yield
    finally:
        lock.release()


class HeldElsewhere(Exception):
    """Another process (or thread) on this database holds the named lock."""


_local_locks: dict[str, threading.Lock] = {}


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"herkomst:{name}".encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock `name` across every collector process on this database, or raise HeldElsewhere at once.

    On PostgreSQL a session advisory lock on a connection of its own: several replicas agree on one runner, and
    the lock goes with the holder's connection if the holder dies, so another replica can take over (re-attribution
    then resumes from its stored progress). On SQLite an flock on a file beside the database (one machine is all
    SQLite serves); in memory, a lock of this process."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.connect() as connection:
            key = _lock_key(name)
            if not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                connection.rollback()
                raise HeldElsewhere(f"another collector process holds the {name} lock")
            connection.commit()  # the session lock outlives the transaction; no transaction stays open
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
        return
    database = make_url(str(engine.url)).database
    if database in (None, "", ":memory:"):
        lock = _local_locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            raise HeldElsewhere(f"this process holds the {name} lock already")
        try:
            yield
        finally:
            lock.release()
        return
    import fcntl

    with open(f"{database}.{name}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise HeldElsewhere(f"another collector process holds the {name} lock ({handle.name})") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
