"""Enrolment and roles: each credential does its own job and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from collector import admin
from collector.models import Agent, ApiToken, AuditLog, EnrollmentToken
from tests.conftest import make_world
from tests.factories import report_doc


def test_an_enrollment_token_buys_an_agent_key_shown_once_and_stored_hashed(client, engine, world):
    r = client.post("/api/v1/enroll", json={"enrollment_token": world.enrollment_token, "hostname": "ot-agent"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["agent_key"].startswith("hka_") and body["organisation"] == "Waterschap Testland"
    assert body["site"] == "plant"
    with Session(engine) as s:
        stored = s.get(Agent, body["agent_id"])
        tokens = s.execute(select(EnrollmentToken)).scalars().all()
        api_hashes = s.execute(select(ApiToken.secret_hash)).scalars().all()
    assert stored is not None and body["agent_key"] not in stored.secret_hash
    assert body["agent_key"].split("_", 2)[2] not in stored.secret_hash and len(stored.secret_hash) == 64
    assert world.enrollment_token.split("_", 2)[2] not in tokens[0].secret_hash
    assert all(world.analyst_token.split("_", 2)[2] not in h for h in api_hashes)
    # the new key submits reports
    doc = report_doc(body["agent_id"])
    sent = client.post("/api/v1/reports", json=doc, headers={"Authorization": f"Bearer {body['agent_key']}"})
    assert sent.status_code == 201


def test_an_enrollment_token_expires_and_runs_out_of_uses(client, engine):
    with Session(engine) as s:
        org = admin.create_organisation(s, name="Drinkwater West", sector="drinkwater")
        assert org.id is not None
        _r, once = admin.create_enrollment_token(
            s, organisation_id=org.id, site="main", expires_in=timedelta(hours=1), max_uses=1
        )
        _r, expired = admin.create_enrollment_token(
            s, organisation_id=org.id, site="main", expires_in=timedelta(seconds=-1), max_uses=5
        )
        s.commit()
    assert client.post("/api/v1/enroll", json={"enrollment_token": once}).status_code == 201
    r = client.post("/api/v1/enroll", json={"enrollment_token": once})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "enrollment_token_used_up"
    r = client.post("/api/v1/enroll", json={"enrollment_token": expired})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "enrollment_token_expired"
    r = client.post("/api/v1/enroll", json={"enrollment_token": "hke_0123456789abcdef_" + "x" * 43})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "invalid_enrollment_token"


ANALYST_ROUTES = [("GET", "/api/v1/devices"), ("GET", "/api/v1/summary"), ("GET", "/api/v1/reports"),
                  ("GET", "/api/v1/devices/1"), ("GET", "/api/v1/organisations")]


@pytest.mark.parametrize(("method", "path"), ANALYST_ROUTES)
def test_an_agent_key_reads_no_analyst_data(client, world, method, path):
    r = client.request(method, path, headers=world.agent_headers())
    assert r.status_code == 403 and r.json()["error"]["reason"] == "wrong_credential_kind"


@pytest.mark.parametrize(("method", "path"), ANALYST_ROUTES)
def test_analyst_data_needs_credentials(client, method, path):
    r = client.request(method, path)
    assert r.status_code == 401 and r.json()["error"]["reason"] == "missing_credentials"
    r = client.request(method, path, headers={"Authorization": "Bearer hkt_0123456789abcdef_" + "y" * 43})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "invalid_credentials"
    r = client.request(method, path, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert r.status_code == 401


def test_analyst_tokens_cannot_submit_or_administer(client, world):
    r = client.post("/api/v1/reports", json=report_doc(world.agent_id), headers=world.analyst_headers())
    assert r.status_code == 403
    r = client.post("/api/v1/admin/organisations", json={"name": "X", "sector": "water"},
                    headers=world.analyst_headers())
    assert r.status_code == 403 and r.json()["error"]["reason"] == "forbidden"
    r = client.post("/api/v1/admin/organisations", json={"name": "X", "sector": "water"}, headers=world.agent_headers())
    assert r.status_code == 403


def test_admin_creates_organisations_and_tokens_through_the_api(client, world):
    h = world.admin_headers()
    r = client.post("/api/v1/admin/organisations", json={"name": "Haven Rotterdam", "sector": "transport"}, headers=h)
    assert r.status_code == 201
    org_id = r.json()["id"]
    dup = client.post("/api/v1/admin/organisations", json={"name": "Haven Rotterdam", "sector": "transport"}, headers=h)
    assert dup.status_code == 409 and dup.json()["error"]["reason"] == "organisation_exists"
    bad = client.post("/api/v1/admin/organisations", json={"name": "Y", "sector": "pirates"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["reason"] == "unknown_sector"
    r = client.post("/api/v1/admin/enrollment-tokens", json={"organisation_id": org_id, "max_uses": 2}, headers=h)
    assert r.status_code == 201 and r.json()["token"].startswith("hke_")
    r = client.post("/api/v1/admin/api-tokens", json={"name": "cert analyst", "role": "analyst"}, headers=h)
    new_token, new_id = r.json()["token"], r.json()["id"]
    assert client.get("/api/v1/devices", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200
    assert client.delete(f"/api/v1/admin/api-tokens/{new_id}", headers=h).status_code == 200
    r = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {new_token}"})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "credentials_revoked"


def test_a_revoked_agent_can_no_longer_submit(client, world):
    r = client.post(f"/api/v1/admin/agents/{world.agent_id}/revoke", headers=world.admin_headers())
    assert r.status_code == 204
    r = client.post("/api/v1/reports", json=report_doc(world.agent_id), headers=world.agent_headers())
    assert r.status_code == 401 and r.json()["error"]["reason"] == "credentials_revoked"


def test_an_expired_api_token_is_refused(client, engine):
    with Session(engine) as s:
        _row, token = admin.create_api_token(s, name="temp", role="analyst", expires_in=timedelta(seconds=-1))
        s.commit()
    r = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "credentials_expired"


def test_every_analyst_request_is_audited(client, world, engine):
    client.post("/api/v1/reports", json=report_doc(world.agent_id, devices=4), headers=world.agent_headers())
    client.get("/api/v1/devices", params={"flagged": "false", "limit": 3}, headers=world.analyst_headers())
    client.get("/api/v1/summary", headers=world.analyst_headers())
    with Session(engine) as s:
        rows = s.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
        n = s.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    assert n == 2
    assert rows[0].route == "/api/v1/devices" and rows[0].rows == 3 and "flagged" in rows[0].query
    assert rows[0].token_name == "analyst Waterschap Testland" and rows[1].route == "/api/v1/summary"


def test_one_organisations_agent_cannot_touch_anothers_devices(client, world, engine):
    other = make_world(engine, name="Netbeheerder Noord", sector="energie")
    doc = report_doc(world.agent_id, devices=2)
    client.post("/api/v1/reports", json=doc, headers=world.agent_headers())
    doc2 = report_doc(other.agent_id, devices=2)  # same MACs, other organisation
    client.post("/api/v1/reports", json=doc2, headers=other.agent_headers())
    items = client.get("/api/v1/devices", headers=world.analyst_headers()).json()["items"]
    assert sorted(i["organisation"] for i in items) == ["Netbeheerder Noord"] * 2 + ["Waterschap Testland"] * 2
