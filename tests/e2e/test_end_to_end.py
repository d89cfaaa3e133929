"""End to end in the lab: the collector on the lab bridge (TLS, SQLite), the agent enrolled and scanning from its
own namespace with `safe` and `standard`, and the analyst's API checked against the lab's ground truth; then the
collector stopped during delivery and started again, and every spooled report delivered exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.lab import COLLECTOR_ADDRESS, IT_SUBNET, OT_SUBNET
from deploy.serve import CollectorProcess
from deploy.tls import make_ca_and_cert

pytestmark = pytest.mark.lab
PORT = 8471
SCOPE = f"{IT_SUBNET},{OT_SUBNET}"


def _agent(lab: Any, state: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "deploy.cli", "agent", *args, "--state-dir", str(state)]
    return lab.exec("agent", argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def collector(lab: Any, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("collector")
    ca, cert, key = make_ca_and_cert(data, COLLECTOR_ADDRESS)
    env = {"HERKOMST_DATA_DIR": str(data), "HERKOMST_DATABASE_URL": f"sqlite:///{data / 'herkomst.db'}"}
    with CollectorProcess(env, data / "collector.log", host=COLLECTOR_ADDRESS, port=PORT, tls=(cert, key),
                          ca=ca) as c:
        yield c


def _admin(collector: CollectorProcess, *args: str) -> dict[str, Any]:
    """What an administrator does with `herkomst collector admin …` on the collector's database."""
    out = subprocess.run([sys.executable, "-m", "deploy.cli", "collector", "admin", *args], env=collector.env,
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return dict(json.loads(out))


@pytest.fixture(scope="module")
def enrolled(lab: Any, collector: CollectorProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    org = _admin(collector, "create-organisation", "Waterschap Labland", "--sector", "water")
    enrol = _admin(collector, "create-enrollment-token", "--organisation", "Waterschap Labland", "--site", "lab")
    analyst = _admin(collector, "create-api-token", "e2e analyst", "--role", "analyst")
    state = tmp_path_factory.mktemp("agent-state")
    r = _agent(lab, state, "enroll", "--collector", collector.url, "--token", enrol["token"], "--ca",
               str(collector.ca), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return {"org": org, "state": state, "analyst": analyst["token"]}


def _devices(collector: CollectorProcess, token: str) -> list[dict[str, Any]]:
    with collector.client(token) as c:
        return list(c.get("/api/v1/devices", params={"limit": 1000}).json()["items"])


def _by_lab_name(lab: Any, devices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The collector's devices keyed by the lab device they are (by MAC where known, else by address)."""
    out = {}
    for truth in lab.devices():
        seen = next((d for d in devices if d["mac"] == truth.mac), None) or next(
            (d for d in devices if d["ip"] == truth.ip and not d["mac"]), None)
        if seen is not None:
            out[truth.name] = seen
    return out


def _check_against_ground_truth(lab: Any, devices: list[dict[str, Any]], *, need_passive: bool) -> None:
    named = _by_lab_name(lab, devices)
    missing, wrong = [], []
    for truth in lab.devices():
        seen = named.get(truth.name)
        if seen is None:
            if truth.name != "yealink-phone" or need_passive:
                missing.append(truth.name)
            continue
        if (seen["country"], bool(seen["flagged"])) != (truth.country, truth.flagged):
            wrong.append(f"{truth.name}: got {seen['vendor']} {seen['country']} flagged={seen['flagged']}, "
                         f"expected {truth.vendor} {truth.country} flagged={truth.flagged}")
    assert not missing, f"devices the collector does not list: {missing}"
    assert not wrong, "wrong verdicts:\n" + "\n".join(wrong)
    # Exactly the ground truth's flags: nothing else the collector lists (the agent's own host, the router) is
    # flagged either.
    lab_ids = {id(d) for d in named.values()}
    extra = [d for d in devices if d["flagged"] and id(d) not in lab_ids]
    assert not extra, f"flagged devices that the ground truth does not flag: {extra}"


def test_safe_scan_reaches_the_analyst_with_the_right_vendors_and_flags(lab, collector, enrolled):
    r = _agent(lab, enrolled["state"], "scan", "--scope", SCOPE, "--profile", "safe", "--listen", "12")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _check_against_ground_truth(lab, _devices(collector, enrolled["analyst"]), need_passive=True)
    assert lab.fragile_faults() == [], "the safe profile tripped the fragile PLC"


def test_standard_scan_agrees(lab, collector, enrolled):
    r = _agent(lab, enrolled["state"], "scan", "--scope", SCOPE, "--profile", "standard", "--listen", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _check_against_ground_truth(lab, _devices(collector, enrolled["analyst"]), need_passive=False)


def test_reports_spooled_while_the_collector_is_down_are_delivered_exactly_once(lab, collector, enrolled):
    with collector.client(enrolled["analyst"]) as c:
        before = len(c.get("/api/v1/reports", params={"limit": 1000}).json()["items"])
    collector.stop()
    try:
        for _ in range(2):
            r = _agent(lab, enrolled["state"], "scan", "--scope", OT_SUBNET, "--profile", "passive", "--listen", "1")
            assert r.returncode != 0 or "spool" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
        status = _agent(lab, enrolled["state"], "status", "--json", timeout=30)
        assert json.loads(status.stdout)["pending"] == 2, status.stdout
    finally:
        collector.start()
    flushed = _agent(lab, enrolled["state"], "flush", timeout=120)
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    again = _agent(lab, enrolled["state"], "flush", timeout=120)  # nothing left: delivers nothing twice
    assert again.returncode == 0
    with collector.client(enrolled["analyst"]) as c:
        reports = c.get("/api/v1/reports", params={"limit": 1000}).json()["items"]
    assert len(reports) == before + 2
    assert len({r["report_id"] for r in reports}) == len(reports)
