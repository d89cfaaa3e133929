"""The fleet view: an analyst sees every enrolled agent, its version, site and last report, and which agents have
gone silent; an agent's key sees nothing of it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from collector import admin
from collector.models import Agent, utcnow
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


def _status(**overrides: object) -> dict[str, object]:
    now = utcnow()
    status: dict[str, object] = {
        "taken_at": now.isoformat(), "interval_seconds": 86400.0, "heartbeat_seconds": 900.0,
        "spool_pending": 2, "spool_rejected": 1, "peak_rss_bytes": 91 * 2**20,
        "errors": [{"at": now.isoformat(), "message": "transient: cannot reach the collector"}],
        "last_scan": {"profile": "safe", "started_at": (now - timedelta(minutes=2)).isoformat(),
                      "finished_at": now.isoformat(), "devices": 20, "packets_sent": 1133, "max_packet_rate": 91.0,
                      "max_host_packet_rate": 7.0},
    }
    status.update(overrides)
    return status


def _beat(world, **status: object) -> dict[str, object]:
    return {"schema": "herkomst.heartbeat/1", "agent": {"id": world.agent_id, "version": "0.2.0",
                                                        "hostname": "agent-1b"}, "status": _status(**status)}


def test_an_agent_says_how_it_is_with_each_report_and_each_heartbeat(client, engine, world):
    """Spool depth, peak memory, last scan and recent errors reach the fleet view, from a report and then from a
    heartbeat (which also updates the agent's version and host name)."""
    h = world.analyst_headers()
    doc = report_doc(world.agent_id, devices=2)
    doc["status"] = _status(spool_pending=0, errors=[])
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201
    one = client.get("/api/v1/agents", headers=h).json()["items"][0]
    assert one["health"]["via"] == "report" and one["health"]["spool_pending"] == 0
    assert one["health"]["last_scan"]["packets_sent"] == 1133 and one["health"]["peak_rss_bytes"] == 91 * 2**20
    assert one["silent"] is False and one["silent_after_hours"] == 0.5  # two heartbeats of 900 s

    r = client.post("/api/v1/agents/heartbeat", json=_beat(world), headers=world.agent_headers())
    assert r.status_code == 200, r.text
    assert r.json()["proposal"] is None
    one = client.get("/api/v1/agents", headers=h).json()["items"][0]
    assert one["health"]["via"] == "heartbeat" and one["health"]["spool_pending"] == 2
    assert one["health"]["errors"][0]["message"].startswith("transient")
    assert one["version"] == "0.2.0" and one["hostname"] == "agent-1b"
    assert one["reports"] == 1  # a heartbeat is not a report


def test_silent_means_two_of_the_agents_own_periods_without_contact(client, engine, world):
    """An agent that beats every 15 minutes is silent after 30 without contact; the Prometheus gauge counts it,
    from the database, so every replica says the same."""
    assert client.post("/api/v1/agents/heartbeat", json=_beat(world), headers=world.agent_headers()
                       ).status_code == 200
    metrics_h = world.analyst_headers()

    def gauge(name: str) -> float:
        text = client.get("/metrics", headers=metrics_h).text
        return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))

    assert gauge("herkomst_agents") == 1 and gauge("herkomst_agents_silent") == 0
    with Session(engine) as session:
        agent = session.get(Agent, world.agent_id)
        assert agent is not None
        agent.last_seen_at = utcnow() - timedelta(minutes=31)
        session.add(agent)
        session.commit()
    fleet = client.get("/api/v1/agents", headers=world.analyst_headers()).json()
    assert fleet["items"][0]["silent"] is True and fleet["silent"] == 1
    assert gauge("herkomst_agents_silent") == 1
    with Session(engine) as session:
        agent = session.get(Agent, world.agent_id)
        assert agent is not None
        agent.last_seen_at = utcnow() - timedelta(minutes=29)
        session.add(agent)
        session.commit()
    assert gauge("herkomst_agents_silent") == 0


def test_a_heartbeat_speaks_only_for_the_agent_whose_key_signs_it(client, world):
    beat = _beat(world)
    beat["agent"]["id"] = "00000000-0000-4000-8000-000000000000"  # type: ignore[index]
    r = client.post("/api/v1/agents/heartbeat", json=beat, headers=world.agent_headers())
    assert r.status_code == 422 and r.json()["error"]["reason"] == "agent_mismatch"
    r = client.post("/api/v1/agents/heartbeat", json={**_beat(world), "devices": []}, headers=world.agent_headers())
    assert r.status_code == 422 and r.json()["error"]["reason"] == "invalid_heartbeat"
    bad = _beat(world, errors=[{"at": utcnow().isoformat(), "message": "line\nbreak"}])
    assert client.post("/api/v1/agents/heartbeat", json=bad, headers=world.agent_headers()).status_code == 422
    r = client.post("/api/v1/agents/heartbeat", content=b"{" + b" " * 70_000 + b"}", headers=world.agent_headers())
    assert r.status_code == 413
    assert client.post("/api/v1/agents/heartbeat", json=_beat(world), headers=world.analyst_headers()
                       ).status_code == 403
    assert client.post("/api/v1/agents/heartbeat", json=_beat(world)).status_code == 401


def test_an_admin_proposes_the_agent_hears_it_and_its_answer_is_kept(client, world):
    """A proposal reaches the agent with every receipt and heartbeat; the agent's answer (here: part applied,
    part refused) is filed against that version and shown in the fleet."""
    path = f"/api/v1/admin/agents/{world.agent_id}/proposal"
    body = {"scope": ["198.18.0.0/25", "203.0.113.0/24"], "profile": "standard", "interval_seconds": 43200}
    assert client.post(path, json=body, headers=world.analyst_headers()).status_code == 403
    assert client.post(path, json=body, headers=world.agent_headers()).status_code in (401, 403)
    r = client.post(path, json=body, headers=world.admin_headers())
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["state"] == "pending"

    receipt = client.post("/api/v1/reports", json=report_doc(world.agent_id), headers=world.agent_headers()).json()
    assert receipt["proposal"]["version"] == 1 and receipt["proposal"]["scope"] == body["scope"]
    beat = _beat(world, proposal={"version": 1, "state": "partly", "answered_at": utcnow().isoformat(),
                                  "message": "applied scope 198.18.0.0/25; refused scope 203.0.113.0/24: outside"})
    r = client.post("/api/v1/agents/heartbeat", json=beat, headers=world.agent_headers())
    assert r.json()["proposal"]["version"] == 1
    one = client.get("/api/v1/agents", headers=world.analyst_headers()).json()["items"][0]
    assert one["proposal"]["state"] == "partly" and "refused scope 203.0.113.0/24" in one["proposal"]["answer"]

    # an empty proposal withdraws: version 2 asks the agent to return to its own configuration
    r = client.post(path, json={}, headers=world.admin_headers())
    assert r.status_code == 201 and r.json()["version"] == 2
    history = client.get(f"/api/v1/admin/agents/{world.agent_id}/proposals", headers=world.admin_headers()).json()
    assert [(p["version"], p["state"]) for p in history] == [(2, "pending"), (1, "partly")]


def test_a_proposal_must_be_a_valid_one(client, world):
    path = f"/api/v1/admin/agents/{world.agent_id}/proposal"
    h = world.admin_headers()
    for body in ({"scope": ["not-a-cidr"]}, {"scope": []}, {"profile": "aggressive"}, {"interval_seconds": 1},
                 {"scope": ["10.0.0.0/8"], "extra": 1}):
        r = client.post(path, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
    r = client.post("/api/v1/admin/agents/00000000-0000-4000-8000-000000000000/proposal", json={}, headers=h)
    assert r.status_code == 404


def test_the_web_view_shows_the_fleet_silent_first_and_escaped(client, engine, world):
    beat = _beat(world, errors=[{"at": utcnow().isoformat(), "message": "<script>alert(1)</script> snmp timeout"}])
    assert client.post("/api/v1/agents/heartbeat", json=beat, headers=world.agent_headers()).status_code == 200
    with Session(engine) as session:
        _row, token = admin.create_enrollment_token(session, organisation_id=world.organisation_id, site="plant",
                                                    expires_in=timedelta(hours=1), max_uses=1)
        admin.enroll_agent(session, token=token, hostname="agent-quiet", version="0.9")
        session.commit()
    assert client.get("/ui/agents", follow_redirects=False).status_code == 303
    client.post("/ui/login", data={"token": world.analyst_token}, follow_redirects=False)
    page = client.get("/ui/agents")
    assert page.status_code == 200 and "2 agents, 1 silent" in " ".join(page.text.split())
    assert page.text.index("agent-quiet") < page.text.index("agent-1b")  # the silent one first
    assert "91 MiB" in page.text and "safe, 20 devices, 1133 packets" in " ".join(page.text.split())
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt; snmp timeout" in page.text
    only = client.get("/ui/agents", params={"silent": "yes"}).text
    assert "agent-quiet" in only and "agent-1b" not in only
    assert client.get("/ui/agents", params={"silent": "perhaps"}).status_code == 422
