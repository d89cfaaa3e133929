"""Alembic environment: runs on the connection that collector.migrate hands over (or on HERKOMST_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import collector.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from collector.db import make_engine
from collector.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs table rebuilds for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(get_settings().effective_database_url)
    with engine.begin() as conn:
        _run(conn)
