"""The fleet view: an analyst sees every enrolled agent, its version, site and last report, and which agents have
gone silent; an agent's key sees nothing of it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from collector import admin
from collector.models import utcnow
from tests.factories import report_doc


def test_the_fleet_shows_each_agent_and_who_has_gone_silent(client, engine, world):
    h = world.analyst_headers()
    r = client.get("/api/v1/agents", headers=h)
    assert r.status_code == 200, r.text
    fleet = r.json()
    assert [a["id"] for a in fleet["items"]] == [world.agent_id]
    one = fleet["items"][0]
    # enrolled but never reported: silent, and said so
    assert one["reports"] == 0 and one["last_report_at"] is None and one["silent"] is True
    assert one["hostname"] == "agent-1" and one["version"] == "test" and one["site"]
    assert fleet["silent"] == 1 and fleet["silent_after_hours"] == 48

    doc = report_doc(world.agent_id, devices=3)
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201
    # a second agent at the same organisation, enrolled long ago, never heard from; a third, revoked
    with Session(engine) as session:
        _row, token = admin.create_enrollment_token(session, organisation_id=world.organisation_id, site="plant",
                                                    expires_in=timedelta(hours=1), max_uses=2)
        quiet, _key = admin.enroll_agent(session, token=token, hostname="agent-quiet", version="0.9")
        quiet.created_at = utcnow() - timedelta(days=30)
        gone, _key = admin.enroll_agent(session, token=token, hostname="agent-gone", version="0.9")
        session.add(quiet)
        session.commit()
        admin.revoke_agent(session, agent_id=gone.id)
        session.commit()
    fleet = client.get("/api/v1/agents", headers=h).json()
    by_name = {a["hostname"]: a for a in fleet["items"]}
    assert by_name["agent-1"]["reports"] == 1 and by_name["agent-1"]["last_report_devices"] == 3
    assert by_name["agent-1"]["silent"] is False and by_name["agent-1"]["last_report_profile"] == "safe"
    assert by_name["agent-quiet"]["silent"] is True
    assert by_name["agent-gone"]["revoked"] is True and by_name["agent-gone"]["silent"] is False
    only_silent = client.get("/api/v1/agents", params={"silent": "true"}, headers=h).json()
    assert [a["hostname"] for a in only_silent["items"]] == ["agent-quiet"]
    assert client.get("/api/v1/agents", params={"organisation_id": 999999}, headers=h).json()["items"] == []


def test_an_agent_key_cannot_see_the_fleet(client, world):
    assert client.get("/api/v1/agents", headers=world.agent_headers()).status_code in (401, 403)
    assert client.get("/api/v1/agents").status_code == 401
    assert client.get("/api/v1/agents", params={"limit": "²"}, headers=world.analyst_headers()).status_code == 422


def test_a_metrics_token_reads_metrics_and_nothing_else(client, engine, world):
    """Least privilege for the scraper: role `metrics` reads /metrics; analyst data, the fleet, the web view and
    admin routes refuse it."""
    with Session(engine) as session:
        _row, token = admin.create_api_token(session, name="prometheus", role="metrics")
        session.commit()
    h = {"Authorization": f"Bearer {token}"}
    r = client.get("/metrics", headers=h)
    assert r.status_code == 200 and "herkomst_" in r.text
    for path in ("/api/v1/devices", "/api/v1/agents", "/api/v1/summary", "/api/v1/reports", "/api/v1/organisations"):
        r = client.get(path, headers=h)
        assert r.status_code == 403 and r.json()["error"]["reason"] == "forbidden", (path, r.text)
    assert client.post("/api/v1/admin/organisations", json={"name": "x", "sector": "water"},
                       headers=h).status_code == 403
    assert client.get("/ui/devices", headers=h, follow_redirects=False).status_code in (302, 303, 401)
    # the analyst token still reads metrics, as documented
    assert client.get("/metrics", headers=world.analyst_headers()).status_code == 200
