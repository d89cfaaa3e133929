"""What agents and analysts do at once, against one collector process over real sockets, on each database.

200 agents submit at the same moment, 20 copies of one report arrive at once, 100 analysts read at once: no answer
is a 5xx, every report is stored exactly once (counted in the database), and duplicates get the original receipt.
Before the fix, 18 of 20 simultaneous reports were answered 500 after 30 s (a request held its authentication's
pooled connection while asking the pool for a second one).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from collector import admin
from collector.db import make_engine
from collector.migrate import upgrade
from collector.models import Device, Report
from deploy.serve import CollectorProcess
from tests.loadgen import enrol_agents, read_all, submit_all


def test_many_agents_and_analysts_at_once(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    agents = enrol_agents(engine, 200)
    with Session(engine) as session:
        _row, analyst = admin.create_api_token(session, name="load analyst", role="analyst")
        session.commit()
    env = {**os.environ, "HERKOMST_DATABASE_URL": database_url, "HERKOMST_DATA_DIR": str(tmp_path)}
    with CollectorProcess(env, tmp_path / "collector.log") as server:
        results = asyncio.run(submit_all(server.url, agents, devices=5, patience=120))
        statuses = Counter(s for r in results for s in r.statuses)
        assert all(code < 500 for code in statuses), statuses
        assert all(r.stored and r.statuses == [201] for r in results), statuses

        copies = asyncio.run(submit_all(server.url, agents[:20], devices=5, same_report=True, patience=120))
        codes = Counter(c.statuses[-1] for c in copies)
        assert all(code < 500 for c in copies for code in c.statuses), codes
        assert codes == {201: 1, 200: 19} or codes == {200: 20}, codes
        receipts = {c.receipt["received_at"] for c in copies if c.receipt}
        assert len(receipts) == 1, "every duplicate carries the original receipt"

        reads = asyncio.run(read_all(server.url, analyst, 100))
        assert Counter(r.status for r in reads) == {200: 100}

    with Session(engine) as session:
        stored = session.execute(select(Report.report_id, func.count()).group_by(Report.report_id)).all()
        devices = session.execute(select(func.count()).select_from(Device)).scalar_one()
    ids = {rid for rid, _n in stored}
    assert all(n == 1 for _rid, n in stored)
    assert ids == {r.report_id for r in results} | {copies[0].report_id}
    assert devices == 200 * 5  # the copied report saw the same five devices as its agent's first one
    engine.dispose()


@pytest.fixture(autouse=True)
def _quiet_attribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERKOMST_REATTRIBUTE_ON_START", "false")
