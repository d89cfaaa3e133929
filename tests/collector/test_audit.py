"""The audit log: refused requests and admin actions are in it beside analyst reads, it is append-only in the
database, and its hash chain shows an edit or a removal; enrollment tokens can be listed and revoked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, select

from collector import audit
from collector.audit import append_only_ddl
from collector.models import AuditLog


def _rows(engine) -> list[AuditLog]:
    with Session(engine) as s:
        return list(s.execute(select(AuditLog).order_by(AuditLog.id)).scalars())


def test_refused_requests_are_audited_with_their_reason_and_never_the_secret(client, engine, world):
    bad = "hkt_" + "a" * 16 + "_not-the-secret-at-all-xyz"
    assert client.get("/api/v1/devices", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
    assert client.get("/api/v1/devices").status_code == 401
    assert client.get("/api/v1/devices", headers=world.agent_headers()).status_code == 403
    assert client.post("/api/v1/agents/heartbeat", content=b"x" * 70_000,
                       headers=world.agent_headers()).status_code == 413
    rows = _rows(engine)
    assert [(r.status, r.reason) for r in rows] == [
        (401, "invalid_credentials"), (401, "missing_credentials"), (403, "wrong_credential_kind"),
        (413, "too_large")]
    assert rows[0].token_name.startswith("unverified api credential") and rows[1].token_name == "anonymous"
    assert rows[3].token_name == f"agent {world.agent_id}" and rows[3].route == "/api/v1/agents/heartbeat"
    assert all("not-the-secret" not in r.token_name + r.query for r in rows)


def test_admin_actions_are_audited_whatever_their_answer(client, engine, world):
    h = world.admin_headers()
    assert client.post("/api/v1/admin/organisations", json={"name": "Drinkwater Zuid", "sector": "drinkwater"},
                       headers=h).status_code == 201
    assert client.post("/api/v1/admin/organisations", json={"name": "x", "sector": "nope"},
                       headers=h).status_code == 422
    assert client.post("/api/v1/admin/organisations", json={"name": "y", "sector": "water"},
                       headers=world.analyst_headers()).status_code == 403
    rows = [r for r in _rows(engine) if r.route == "/api/v1/admin/organisations"]
    assert [(r.status, r.token_name, r.reason) for r in rows] == [
        (201, "admin Waterschap Testland", ""), (422, "admin Waterschap Testland", rows[1].reason),
        (403, "analyst Waterschap Testland", "forbidden")]
    assert rows[1].reason  # the refusal's reason, whatever its name


def test_the_audit_log_is_read_by_admins_with_filters_and_pages(client, world):
    for _ in range(3):
        client.get("/api/v1/summary", headers=world.analyst_headers())
    client.get("/api/v1/devices", headers={"Authorization": "Bearer nonsense"})
    h = world.admin_headers()
    assert client.get("/api/v1/admin/audit", headers=world.analyst_headers()).status_code == 403
    page = client.get("/api/v1/admin/audit", params={"route": "/api/v1/summary", "limit": 2}, headers=h).json()
    assert len(page["items"]) == 2 and page["next_before_id"] is not None
    rest = client.get("/api/v1/admin/audit", params={"route": "/api/v1/summary", "before_id": page["next_before_id"]},
                      headers=h).json()
    assert len(rest["items"]) == 1 and rest["next_before_id"] is None
    refused = client.get("/api/v1/admin/audit", params={"refused": "true"}, headers=h).json()["items"]
    assert {r["reason"] for r in refused} >= {"invalid_credentials"} and all(r["status"] >= 400 for r in refused)
    assert client.get("/api/v1/admin/audit", params={"surprise": 1}, headers=h).status_code == 422


def _superuser_edit(engine, statement: str) -> None:
    """What only someone who can remove the triggers could do: the chain must show it afterwards."""
    create, drop = append_only_ddl(engine.dialect.name)
    with engine.begin() as conn:
        for s in drop:
            conn.execute(text(s))
        conn.execute(text(statement))
        for s in create:
            conn.execute(text(s))


def test_the_chain_holds_and_shows_an_edit_or_a_removal(client, engine, world):
    for _ in range(4):
        client.get("/api/v1/summary", headers=world.analyst_headers())
    with Session(engine) as s:
        v = audit.verify(s)
    assert v.intact and v.chained == 4
    assert client.get("/api/v1/admin/audit/verify", headers=world.admin_headers()).json()["intact"] is True
    ids = [r.id for r in _rows(engine)]

    # append-only for the collector: an UPDATE or a DELETE is refused by the database
    for statement in (f"UPDATE audit_log SET rows = 99 WHERE id = {ids[1]}",
                      f"DELETE FROM audit_log WHERE id = {ids[1]}"):
        with pytest.raises(DatabaseError), engine.begin() as conn:
            conn.execute(text(statement))

    _superuser_edit(engine, f"UPDATE audit_log SET token_name = 'someone else' WHERE id = {ids[1]}")
    with Session(engine) as s:
        v = audit.verify(s)
    assert not v.intact and v.broken_at == ids[1] and "changed" in v.problem
    _superuser_edit(engine, f"DELETE FROM audit_log WHERE id = {ids[1]}")
    with Session(engine) as s:
        v = audit.verify(s)
    assert not v.intact and v.broken_at == ids[2] and "removed" in v.problem


def test_enrollment_tokens_are_listed_and_revoked(client, world):
    h = world.admin_headers()
    made = client.post("/api/v1/admin/enrollment-tokens", json={"organisation_id": world.organisation_id,
                                                                "site": "pomp", "max_uses": 2}, headers=h).json()
    listed = client.get("/api/v1/admin/enrollment-tokens", headers=h).json()
    assert made["id"] in [t["id"] for t in listed] and all(t["token"] is None for t in listed)
    assert client.delete(f"/api/v1/admin/enrollment-tokens/{made['id']}", headers=h).json()["revoked_at"]
    r = client.post("/api/v1/enroll", json={"enrollment_token": made["token"], "hostname": "late"})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "enrollment_token_revoked"
    assert made["id"] not in [t["id"] for t in client.get("/api/v1/admin/enrollment-tokens", headers=h).json()]
    assert client.delete("/api/v1/admin/enrollment-tokens/999999", headers=h).status_code == 404
    tokens = client.get("/api/v1/admin/api-tokens", headers=h).json()
    assert {t["role"] for t in tokens} >= {"analyst", "admin"} and all(t["token"] is None for t in tokens)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_command_line_reads_and_verifies_the_audit_log(database_url, tmp_path):
    env = {**os.environ, "HERKOMST_DATABASE_URL": database_url, "HERKOMST_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.cli", "collector", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    from collector.db import make_engine
    from collector.migrate import upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    try:
        with Session(engine) as s:
            audit.append(s, token_id=None, token_name="anonymous", role="none", method="GET",
                         route="/api/v1/devices", status=401, reason="missing_credentials")
            audit.append(s, token_id=None, token_name="anonymous", role="none", method="GET",
                         route="/api/v1/summary", status=401, reason="missing_credentials")
        r = cli("audit", "--refused")
        assert r.returncode == 0 and "missing_credentials" in r.stdout and "/api/v1/summary" in r.stdout, r.stderr
        r = cli("audit", "verify")
        assert r.returncode == 0 and "intact: 2 chained rows" in r.stdout, r.stdout + r.stderr
        first = min(x.id for x in _rows(engine))
        _superuser_edit(engine, f"UPDATE audit_log SET status = 200 WHERE id = {first}")
        r = cli("audit", "verify")
        assert r.returncode == 1 and f"broken at row {first}" in r.stderr
    finally:
        engine.dispose()
