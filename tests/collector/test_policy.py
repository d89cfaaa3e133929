"""The policy as managed data: the shipped policy until an admin sets one; versions in one chain through time; bad
policies refused with a reason and nothing re-attributed; the CLI and the API agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlmodel import Session, select

import fingerprints
from collector import policy as policies
from collector.models import AuditLog, utcnow


def _doc(**overrides: object) -> dict[str, object]:
    return {**json.loads(fingerprints.load_policy().model_dump_json()), **overrides}


def test_the_shipped_policy_is_in_force_until_one_is_set(client, world):
    r = client.get("/api/v1/policy", headers=world.analyst_headers())
    assert r.status_code == 200
    shown = r.json()
    assert shown["version"] == fingerprints.policy_version() and shown["stored"] is False
    assert shown["countries"] == ["CN", "RU", "IR", "KP"] and "HK" in shown["territories"]
    assert client.get("/api/v1/policy/history", headers=world.analyst_headers()).json() == []
    assert client.get("/api/v1/policy", headers=world.agent_headers()).status_code in (401, 403)


def test_an_admin_sets_a_policy_and_it_is_audited_and_kept_in_history(client, engine, world):
    body = {"policy": _doc(version="2026.2", countries=["CN", "RU", "IR", "KP", "BY"]), "note": "Belarus added"}
    assert client.post("/api/v1/admin/policy", json=body, headers=world.analyst_headers()).status_code == 403
    r = client.post("/api/v1/admin/policy", json=body, headers=world.admin_headers())
    assert r.status_code == 201, r.text
    assert r.json()["set_by"] == "admin Waterschap Testland"  # the admin token's name: who set it
    now = client.get("/api/v1/policy", headers=world.analyst_headers()).json()
    assert now["version"] == "2026.2" and now["countries"][-1] == "BY" and now["stored"] is True
    assert [p["version"] for p in client.get("/api/v1/policy/history", headers=world.analyst_headers()).json()] == [
        "2026.2"]
    with Session(engine) as session:
        routes = {a.route for a in session.exec(select(AuditLog)).all()}
    assert "/api/v1/admin/policy" in routes


def test_bad_policies_are_refused_with_a_reason_and_change_nothing(client, world):
    h = world.admin_headers()
    cases = [
        (_doc(version="x1", countries=["CN", "XX"]), 422, "invalid_policy"),
        (_doc(version="x2", sources=[]), 422, "policy_without_source"),
        (_doc(version="x3", countries=[]), 422, "invalid_policy"),
        (_doc(version="x4", countries=["CN", "CN"]), 422, "invalid_policy"),
        (_doc(version="x" * 40), 422, "invalid_policy"),
        ({"version": "x5"}, 422, "invalid_policy"),
    ]
    for doc, status, reason in cases:
        r = client.post("/api/v1/admin/policy", json={"policy": doc}, headers=h)
        assert r.status_code == status and r.json()["error"]["reason"] == reason, (doc, r.text)
    assert client.post("/api/v1/admin/policy", json={"policy": _doc(version="ok")}, headers=h).status_code == 201
    r = client.post("/api/v1/admin/policy", json={"policy": _doc(version="ok")}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["reason"] == "policy_version_exists"
    earlier = (utcnow() - timedelta(days=1)).isoformat()
    r = client.post("/api/v1/admin/policy", json={"policy": _doc(version="older"), "valid_from": earlier}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["reason"] == "policy_overlap"
    assert [p["version"] for p in client.get("/api/v1/policy/history", headers=h).json()] == ["ok"]


def test_a_policy_set_for_later_is_not_in_force_before_its_day(client, engine, world):
    later = utcnow() + timedelta(days=30)
    r = client.post("/api/v1/admin/policy", json={"policy": _doc(version="2027.1", countries=["RU"]),
                                                  "valid_from": later.isoformat()}, headers=world.admin_headers())
    assert r.status_code == 201
    assert client.get("/api/v1/policy", headers=world.analyst_headers()).json()["version"] == (
        fingerprints.policy_version())
    with Session(engine) as session:
        assert policies.policy_in_force(session, at=later + timedelta(seconds=1)).policy.countries == ["RU"]
        assert policies.policy_in_force(session, at=later - timedelta(seconds=1)).stored is False


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # the API tests above cover both databases
def test_the_command_line_shows_sets_and_lists_policies(database_url, tmp_path):
    env = {**os.environ, "HERKOMST_DATABASE_URL": database_url, "HERKOMST_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.cli", "collector", "policy", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    shown = cli("show", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["version"] == fingerprints.policy_version()
    (tmp_path / "hk.json").write_text(json.dumps({**doc, "version": "2026.1-hk", "countries": [*doc["countries"],
                                                                                                "HK", "MO"]}))
    r = cli("set", str(tmp_path / "hk.json"), "--note", "treat HK and MO as China")
    assert r.returncode == 0 and "policy 2026.1-hk stored" in r.stdout and "re-attributed 0 devices" in r.stdout, (
        r.stdout + r.stderr)
    (tmp_path / "bad.json").write_text(json.dumps({**doc, "version": "bad", "countries": ["ZZ"]}))
    r = cli("set", str(tmp_path / "bad.json"))
    assert r.returncode == 1 and "invalid_policy" in r.stderr and "ZZ" in r.stderr
    r = cli("history")
    assert r.returncode == 0 and "2026.1-hk" in r.stdout and "treat HK and MO as China" in r.stdout
    assert "2026.1-hk: CN, RU, IR, KP, HK, MO" in cli("show").stdout.replace("policy ", "")
