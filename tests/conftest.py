"""Shared fixtures: the collector on SQLite and on the real PostgreSQL, clients with each kind of credential.

Every collector test that takes `engine` runs twice, once per database. PostgreSQL tests get a database of their own
for this test run (created on the server at 127.0.0.1:5432, dropped at the end), so parallel runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from collector import admin
from collector.app import create_app
from collector.db import make_engine
from collector.migrate import upgrade
from collector.settings import Settings
from tests.lab_fixture import lab  # noqa: F401  (the session-scoped network-namespace lab)

PG_ADMIN_URL = os.environ.get("HERKOMST_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    import psycopg

    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and does not answer at {PG_ADMIN_URL}")
        pytest.skip(f"PostgreSQL does not answer at {PG_ADMIN_URL}")
    name = f"herkomst_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_dsn = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, _engines: dict[str, Engine],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated, empty database: SQLite file or the real PostgreSQL."""
    backend = request.param
    if backend not in _engines:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'herkomst.db'}"
        else:
            url = request.getfixturevalue("pg_url")
        eng = make_engine(url)
        upgrade(eng)
        _engines[backend] = eng
    eng = _engines[backend]
    _wipe(eng)
    yield eng


def _wipe(engine: Engine) -> None:
    # the collector's secrets go too, so a process's cached cursor key must go with them
    from collector.api import paging

    paging._db_keys.pop(engine, None)
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    from collector.audit import append_only_ddl

    with engine.begin() as conn:
        # The audit log is append-only by trigger (collector/audit.py); tests wipe it as only a superuser could.
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            create, drop = append_only_ddl("sqlite")
            for statement in drop:
                conn.execute(text(statement))
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
            for statement in create:
                conn.execute(text(statement))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Attribution has tests of its own (test_attribution.py); here the agent's hints stand, so that API tests
    # do not depend on the catalogue of the day.
    return Settings(data_dir=tmp_path, migrate_on_start=False, reattribute_on_start=False, attribute_on_ingest=False,
                    summary_cache_seconds=0)


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    with TestClient(app) as c:
        yield c


@dataclass
class World:
    """An organisation with one site, an enrolled agent, and analyst and admin tokens."""

    organisation_id: int
    agent_id: str
    agent_key: str
    analyst_token: str
    admin_token: str
    enrollment_token: str

    def agent_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agent_key}"}

    def analyst_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.analyst_token}"}

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


def make_world(engine: Engine, name: str = "Waterschap Testland", sector: str = "water") -> World:
    from datetime import timedelta

    with Session(engine) as session:
        org = admin.create_organisation(session, name=name, sector=sector)
        assert org.id is not None
        _row, enrol = admin.create_enrollment_token(
            session, organisation_id=org.id, site="plant", expires_in=timedelta(hours=1), max_uses=5
        )
        agent, key = admin.enroll_agent(session, token=enrol, hostname="agent-1", version="test")
        _a, analyst = admin.create_api_token(session, name=f"analyst {name}", role="analyst")
        _b, admin_token = admin.create_api_token(session, name=f"admin {name}", role="admin")
        session.commit()
        return World(org.id, agent.id, key, analyst, admin_token, enrol)


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for a collector process of its own: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'served.db'}"
    url: str = request.getfixturevalue("pg_url")
    # a database of its own, apart from the in-process tests' one
    import psycopg

    name = url.rsplit("/", 1)[1] + "_srv"
    admin = url.rsplit("/", 1)[0].replace("+psycopg", "") + "/test"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: _drop(admin, name))
    return url.rsplit("/", 1)[0] + "/" + name


def _drop(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
