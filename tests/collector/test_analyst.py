"""The analyst API: filters, pagination, detail with evidence, the summary, the ingest log, bad input."""

from __future__ import annotations

import pytest

from tests.factories import report_doc


def _hint(doc, n, vendor_id, country, flagged):
    doc["devices"][n]["identification"] = {"vendor_id": vendor_id, "vendor": vendor_id.title(), "country": country,
                                           "owner_country": country, "flagged": flagged, "confidence": 0.9}


@pytest.fixture
def populated(client, world):
    doc = report_doc(world.agent_id, devices=25, observations=3)
    _hint(doc, 0, "hikvision", "CN", True)
    _hint(doc, 1, "siemens", "DE", False)
    _hint(doc, 2, "huawei", "CN", True)
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201
    return doc


def test_devices_filter_by_flag_vendor_country_and_sector(client, world, populated):
    h = world.analyst_headers()
    flagged = client.get("/api/v1/devices", params={"flagged": "true"}, headers=h).json()["items"]
    assert sorted(d["vendor_id"] for d in flagged) == ["hikvision", "huawei"]
    siemens = client.get("/api/v1/devices", params={"vendor": "siemens"}, headers=h).json()["items"]
    assert [d["vendor_id"] for d in siemens] == ["siemens"]
    assert len(client.get("/api/v1/devices", params={"country": "CN"}, headers=h).json()["items"]) == 2
    assert len(client.get("/api/v1/devices", params={"sector": "water"}, headers=h).json()["items"]) == 25
    assert client.get("/api/v1/devices", params={"sector": "energie"}, headers=h).json()["items"] == []
    assert client.get("/api/v1/devices", params={"seen_since": "2999-01-01T00:00:00Z"}, headers=h).json()["items"] == []


@pytest.mark.parametrize("sort", ["-last_seen", "last_seen", "id", "-id", "first_seen"])
def test_cursor_pagination_visits_every_device_once(client, world, populated, sort):
    seen, cursor = [], None
    for _ in range(20):
        params = {"limit": 7, "sort": sort, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/devices", params=params, headers=world.analyst_headers()).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 25 and len(set(seen)) == 25


def test_device_detail_shows_observations_history_and_identification(client, world, populated):
    first = client.get("/api/v1/devices", params={"vendor": "hikvision"}, headers=world.analyst_headers()).json()
    dev_id = first["items"][0]["id"]
    d = client.get(f"/api/v1/devices/{dev_id}", headers=world.analyst_headers()).json()
    assert {o["kind"] for o in d["observations"]} == {"mac", "http.server", "http.title"}
    assert d["history"][0]["report_id"] == populated["report_id"]
    assert d["identification"]["vendor_id"] == "hikvision" and d["identification"]["flagged"] is True
    assert client.get("/api/v1/devices/999999", headers=world.analyst_headers()).status_code == 404


def test_summary_counts_by_sector_and_country(client, world, populated):
    s = client.get("/api/v1/summary", headers=world.analyst_headers()).json()
    cells = {(c["sector"], c["country"]): (c["devices"], c["flagged"]) for c in s["cells"]}
    assert cells[("water", "CN")] == (2, 2) and cells[("water", "DE")] == (1, 0) and cells[("water", None)] == (22, 0)
    assert s["total_devices"] == 25 and s["total_flagged"] == 2


def test_the_ingest_log_lists_reports(client, world, populated):
    log = client.get("/api/v1/reports", headers=world.analyst_headers()).json()
    assert log["items"][0]["report_id"] == populated["report_id"] and log["items"][0]["device_count"] == 25


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"vendr": "x"}, "unknown_parameter"),
        ({"limit": 10**9}, "page_too_large"),
        ({"limit": 0}, "invalid_request"),
        ({"country": "China"}, "invalid_request"),
        ({"country": "CN' OR 1=1 --"}, "invalid_request"),
        ({"sector": "water'; DROP TABLE device; --"}, "unknown_sector"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"seen_since": "yesterday"}, "invalid_request"),
        ({"sort": "vendor; DELETE"}, "invalid_request"),
        ({"flagged": "perhaps"}, "invalid_request"),
    ],
)
def test_bad_analyst_queries_get_a_clear_4xx(client, world, populated, params, reason):
    r = client.get("/api/v1/devices", params=params, headers=world.analyst_headers())
    assert 400 <= r.status_code < 500 and r.json()["error"]["reason"] == reason, r.text
    # nothing was harmed
    assert len(client.get("/api/v1/devices", headers=world.analyst_headers()).json()["items"]) == 25


def test_vendor_filter_with_injection_text_matches_nothing(client, world, populated):
    r = client.get("/api/v1/devices", params={"vendor": "x' OR '1'='1"}, headers=world.analyst_headers())
    assert r.status_code == 200 and r.json()["items"] == []


def test_health_and_metrics(client, world):
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/api/v1/reports", json=report_doc(world.agent_id), headers=world.agent_headers())
    client.post("/api/v1/reports", content=b"{oops", headers=world.agent_headers())
    text = client.get("/metrics", headers=world.analyst_headers()).text
    assert 'herkomst_reports_total{result="new"} 1.0' in text
    assert 'herkomst_rejected_requests_total{reason="malformed_json"} 1.0' in text
    assert "herkomst_ingest_seconds_count 1.0" in text


def test_the_openapi_document_describes_the_api(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/enroll", "/api/v1/reports", "/api/v1/devices", "/api/v1/devices/{device_id}",
                 "/api/v1/summary", "/healthz"):
        assert path in spec["paths"]


def test_exports_stream_every_matching_device_as_csv_and_json_lines(client, world, populated):
    import csv
    import io
    import json

    h = world.analyst_headers()
    r = client.get("/api/v1/export/devices.csv", params={"country": "CN"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["vendor_id"] for row in rows) == ["hikvision", "huawei"]
    r = client.get("/api/v1/export/devices.jsonl", headers=h)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 25 and len({d["id"] for d in lines}) == 25


def test_exports_are_rate_limited_per_token_and_audited(client, world, populated, engine):
    from sqlalchemy import select
    from sqlmodel import Session

    from collector.api.routes.devices import EXPORTS_PER_MINUTE
    from collector.models import AuditLog

    h = world.analyst_headers()
    for _ in range(EXPORTS_PER_MINUTE):
        assert client.get("/api/v1/export/devices.jsonl", headers=h).status_code == 200
    r = client.get("/api/v1/export/devices.jsonl", headers=h)
    assert r.status_code == 429 and r.json()["error"]["reason"] == "rate_limited" and r.headers["retry-after"]
    with Session(engine) as s:
        audited = s.execute(select(AuditLog.rows, AuditLog.status, AuditLog.reason).where(
            AuditLog.route == "/api/v1/export/devices.{fmt}").order_by(AuditLog.id)).all()
    # each export with the rows it gave, then the refusal with its reason
    assert [tuple(a) for a in audited] == [(25, 200, "")] * EXPORTS_PER_MINUTE + [(0, 429, "rate_limited")]


def test_unknown_export_format_and_filters_are_refused(client, world, populated):
    h = world.analyst_headers()
    assert client.get("/api/v1/export/devices.xlsx", headers=h).status_code == 422
    r = client.get("/api/v1/export/devices.csv", params={"vendorr": "x"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["reason"] == "unknown_parameter"


def test_filters_by_first_seen_and_last_seen_windows(client, world, populated):
    h = world.analyst_headers()
    assert len(client.get("/api/v1/devices", params={"first_seen_since": "2000-01-01T00:00:00Z"},
                          headers=h).json()["items"]) == 25
    assert client.get("/api/v1/devices", params={"seen_before": "2000-01-01T00:00:00Z"},
                      headers=h).json()["items"] == []


def test_the_summary_is_served_from_memory_until_a_report_arrives(engine, settings, world):
    from fastapi.testclient import TestClient

    from collector.app import create_app

    settings.summary_cache_seconds = 3600
    with TestClient(create_app(settings, engine=engine)) as c:
        h = world.analyst_headers()
        c.post("/api/v1/reports", json=report_doc(world.agent_id, devices=2), headers=world.agent_headers())
        first = c.get("/api/v1/summary", headers=h).json()
        assert first["total_devices"] == 2 and first["computed_at"]
        assert c.get("/api/v1/summary", headers=h).json() == first  # from memory: same moment, same counts
        c.post("/api/v1/reports", json=report_doc(world.agent_id, devices=5), headers=world.agent_headers())
        fresh = c.get("/api/v1/summary", headers=h).json()
        assert fresh["total_devices"] == 5 and fresh["computed_at"] > first["computed_at"]
