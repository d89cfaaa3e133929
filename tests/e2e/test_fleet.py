"""The fleet end to end over real sockets: a real collector (`herkomst collector serve`, SQLite and PostgreSQL),
the real agent command line on loopback (scope 127.0.0.1/32, passive, so nothing is sent anywhere), an admin's
proposal, the agent applying the part its operator allows, and the analyst reading the answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.serve import CollectorProcess


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _json(env: dict[str, str], *args: str) -> dict[str, Any]:
    r = _cli(env, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(r.stdout))


def _logs(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


#: On PostgreSQL, as in production; both databases run the same fleet code in tests/collector/test_fleet.py.
pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def fleet(database_url: str, tmp_path: Path):
    env = {**os.environ, "HERKOMST_DATABASE_URL": database_url, "HERKOMST_DATA_DIR": str(tmp_path / "collector")}
    (tmp_path / "collector").mkdir()
    _json(env, "collector", "admin", "create-organisation", "Ziekenhuis Test", "--sector", "zorg")
    enrol = _json(env, "collector", "admin", "create-enrollment-token", "--organisation", "Ziekenhuis Test")
    analyst = _json(env, "collector", "admin", "create-api-token", "cert", "--role", "analyst")
    admin = _json(env, "collector", "admin", "create-api-token", "ops", "--role", "admin")
    agent_env = {
        **os.environ, "HERKOMST_AGENT_STATE_DIR": str(tmp_path / "agent"), "HERKOMST_AGENT_ALLOW_PLAIN_HTTP": "1",
        "HERKOMST_AGENT_DELIVERY_ATTEMPTS": "2", "HERKOMST_AGENT_CONFIG": str(tmp_path / "none.toml"),
        # loopback only, passive: the agent sends nothing; the operator allows proposals within 127.0.0.0/8
        "HERKOMST_AGENT_SCOPE": '["127.0.0.1/32", "127.0.0.2/32"]', "HERKOMST_AGENT_PROFILE": "passive",
        "HERKOMST_AGENT_PASSIVE_WINDOW": "0", "HERKOMST_AGENT_ALLOWED_SCOPE": '["127.0.0.0/8"]',
    }
    with CollectorProcess(env, tmp_path / "collector.log") as server:
        r = _cli(agent_env, "agent", "enroll", "--collector", server.url, "--token", enrol["token"])
        assert r.returncode == 0, r.stdout + r.stderr
        agent_id = json.loads((tmp_path / "agent" / "credentials.json").read_text())["agent_id"]
        yield {"server": server, "env": env, "agent_env": agent_env, "agent_id": agent_id,
               "analyst": analyst["token"], "admin": admin["token"]}


def _agent_row(fleet: dict[str, Any]) -> dict[str, Any]:
    with fleet["server"].client(fleet["analyst"]) as c:
        items = c.get("/api/v1/agents").json()["items"]
    return dict(next(a for a in items if a["id"] == fleet["agent_id"]))


def test_status_proposal_and_answer_go_round_the_fleet(fleet):
    env, agent_env = fleet["env"], fleet["agent_env"]
    r = _cli(agent_env, "agent", "run", "--once")
    assert r.returncode == 0, r.stderr
    row = _agent_row(fleet)
    assert row["reports"] == 1 and row["silent"] is False
    health = row["health"]
    assert health["via"] == "report" and health["spool_pending"] == 0
    # (packets_sent is counted on the wire, and on loopback that includes this test's own HTTP: not asserted)
    assert health["last_scan"]["profile"] == "passive" and health["last_scan"]["devices"] >= 0
    assert 10 * 2**20 < health["peak_rss_bytes"] < 200 * 2**20

    # The admin proposes a scope half inside the operator's ceiling, a harsher profile and a longer interval.
    out = _json(env, "collector", "admin", "propose", fleet["agent_id"], "--scope", "127.0.0.1/32",
                "--scope", "192.0.2.0/24", "--profile", "standard", "--interval", "172800")
    assert out["version"] == 1
    # The next cycle's receipt brings it; the agent applies what is allowed and answers at once by heartbeat.
    r = _cli(agent_env, "agent", "run", "--once")
    assert r.returncode == 0, r.stderr
    logged = {e["msg"]: e for e in _logs(r.stderr)}
    assert logged["proposal from the collector refused in part or whole"]["state"] == "partly"
    row = _agent_row(fleet)
    assert row["health"]["via"] == "heartbeat"
    assert row["proposal"]["version"] == 1 and row["proposal"]["state"] == "partly"
    answer = row["proposal"]["answer"]
    assert "applied scope 127.0.0.1/32" in answer and "refused scope 192.0.2.0/24" in answer
    assert "refused profile standard" in answer and "applied interval 172800 s" in answer

    # The scan after that runs on the applied scope, never on the refused part.
    r = _cli(agent_env, "agent", "run", "--once")
    assert r.returncode == 0, r.stderr
    scan = next(e for e in _logs(r.stderr) if e["msg"] == "scan done")
    assert scan["scope"] == "127.0.0.1/32" and scan["profile"] == "passive"

    # Withdrawn: back to the operator's own configuration on the next cycle.
    _json(env, "collector", "admin", "propose", fleet["agent_id"], "--withdraw")
    _cli(agent_env, "agent", "run", "--once")
    r = _cli(agent_env, "agent", "run", "--once")
    scan = next(e for e in _logs(r.stderr) if e["msg"] == "scan done")
    assert scan["scope"] == "127.0.0.1/32,127.0.0.2/32"

    # The operator's view from the collector's command line; exit 0 while nobody is silent.
    r = _cli(env, "collector", "agents", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["id"] for x in rows] == [fleet["agent_id"]] and rows[0]["health"]["spool_pending"] == 0

    # A heartbeat by hand (what `run` sends between scans): the proposal withdrawn, nothing proposed any more.
    r = _cli(agent_env, "agent", "heartbeat")
    assert r.returncode == 0 and "proposal v2" in r.stdout, r.stdout + r.stderr
    assert _agent_row(fleet)["health"]["via"] == "heartbeat"

    # A second agent enrolled and never heard from makes `herkomst collector agents` exit 3 (a monitoring check).
    token = _json(env, "collector", "admin", "create-enrollment-token", "--organisation", "Ziekenhuis Test")
    with fleet["server"].client() as c:
        assert c.post("/api/v1/enroll", json={"enrollment_token": token["token"], "hostname": "quiet"}
                      ).status_code == 201
    r = _cli({**env, "COLUMNS": "200"}, "collector", "agents", "--silent")
    assert r.returncode == 3 and "SILENT" in r.stdout and "quiet" in r.stdout, r.stdout + r.stderr
