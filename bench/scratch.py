"""A PostgreSQL database of a benchmark's own: created empty and migrated, dropped afterwards unless kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from collector.db import make_engine
from collector.migrate import upgrade

DEFAULT_PG = os.environ.get("HERKOMST_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def scratch_database(name: str, pg_url: str = DEFAULT_PG, *, keep: bool = False) -> Iterator[Engine]:
    """A migrated, empty database `name` on the server of `pg_url` (never the server's own databases)."""
    import psycopg

    admin_dsn = pg_url.replace("+psycopg", "")
    with psycopg.connect(admin_dsn, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(pg_url.rsplit("/", 1)[0] + "/" + name)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        if not keep:
            with psycopg.connect(admin_dsn, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
