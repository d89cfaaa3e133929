"""Migrations: applying them yields exactly the models' schema, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from collector.migrate import current, upgrade


def test_migrations_match_the_models(engine):
    upgrade(engine)  # idempotent on an up-to-date database
    assert current(engine) is not None
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    assert diff == []
