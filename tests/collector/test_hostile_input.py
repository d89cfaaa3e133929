"""Hostile input (issue 15 items 4-6): control characters, Unicode digits, extreme datetimes, tampered cursors,
formula cells in CSV exports, the atomic export quota, and /metrics behind a credential. Both databases."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from collector.app import create_app
from collector.settings import Settings
from tests.factories import report_doc

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _locs(response) -> list[str]:
    return [".".join(d["loc"]) for d in response.json()["error"]["details"] if "loc" in d]


# ---------------------------------------------------------------- control characters


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda d: d["devices"][0].__setitem__("hostnames", ["cam\x00era"]), "devices.0.hostnames.0"),
        (lambda d: d["devices"][1]["observations"][1].__setitem__("value", "App-webs/\x00"),
         "devices.1.observations.1.value"),
        (lambda d: d["devices"][0]["observations"][0].__setitem__("source", "arp\x1b[2J"),
         "devices.0.observations.0.source"),
        (lambda d: d["agent"].__setitem__("hostname", "agent\x00"), "agent.hostname"),
        (lambda d: d.__setitem__("host", {"hostname": "h\x00st"}), "host.hostname"),
    ],
    ids=["hostname", "value", "source-escape", "agent-hostname", "host-hostname"],
)
def test_control_characters_in_a_report_are_a_422_naming_the_field(client, world, mutate, loc):
    doc = report_doc(world.agent_id)
    mutate(doc)
    r = client.post("/api/v1/reports", json=doc, headers=world.agent_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["reason"] == "invalid_report"
    assert any(x.endswith(loc) for x in _locs(r)), r.text
    assert "control character" in r.text


def test_tab_and_newlines_in_observation_values_are_kept(client, world):
    doc = report_doc(world.agent_id, devices=1)
    doc["devices"][0]["observations"][1]["value"] = "HTTP/1.1 200 OK\r\nServer: x\tY"
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/devices", {"vendor": "a\x00b"}),
        ("/api/v1/devices", {"ven\x00dor": "x"}),
        ("/api/v1/reports", {"agent_id": "\x00"}),
        ("/api/v1/changes", {"since": "2026-01-01T00:00:00Z", "catalogue_version": "\x00"}),
        ("/api/v1/inventory-reports", {"sector": "\x00"}),
        ("/api/v1/summary", {"vendor": "\x01"}),
        ("/api/v1/export/devices.csv", {"vendor": "\x00"}),
    ],
)
def test_control_characters_in_query_strings_are_a_422(client, world, path, params):
    r = client.get(path, params=params, headers=world.analyst_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["reason"] in ("invalid_request", "unknown_parameter")


def test_control_characters_in_admin_and_enrol_bodies_are_a_422(client, world):
    h = world.admin_headers()
    r = client.post("/api/v1/admin/organisations", json={"name": "Water\x00schap", "sector": "water"}, headers=h)
    assert r.status_code == 422 and _locs(r) == ["body.name"], r.text
    r = client.post("/api/v1/admin/enrollment-tokens", headers=h,
                    json={"organisation_id": world.organisation_id, "site": "pl\x00ant", "note": "ok"})
    assert r.status_code == 422 and _locs(r) == ["body.site"], r.text
    r = client.post("/api/v1/admin/api-tokens", json={"name": "a\nb", "role": "analyst"}, headers=h)
    assert r.status_code == 422 and _locs(r) == ["body.name"], r.text
    r = client.post("/api/v1/admin/agents/%00/revoke", headers=h)
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/enroll", json={"enrollment_token": world.enrollment_token, "hostname": "agent\x00"})
    assert r.status_code == 422 and _locs(r) == ["body.hostname"], r.text
    # and nothing of it reached the database
    names = [o["name"] for o in client.get("/api/v1/organisations", headers=world.analyst_headers()).json()]
    assert names == ["Waterschap Testland"]


def test_control_characters_in_the_web_view_are_refused(client, world):
    h = world.analyst_headers()
    r = client.get("/ui/devices", params={"q": "cam\x00"}, headers=h)
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]


# ---------------------------------------------------------------- digits, datetimes


@pytest.mark.parametrize("raw", ["²", "١", "１", "1²"])
def test_unicode_digits_are_not_numbers(client, world, raw):
    h = world.analyst_headers()
    assert client.get(f"/ui/devices/{raw}", headers=h).status_code == 404
    assert client.get(f"/ui/reports/{raw}", headers=h).status_code == 404
    assert client.get("/ui/devices", params={"limit": raw}, headers=h).status_code == 422
    assert client.get("/ui/devices", params={"after": raw}, headers=h).status_code == 422
    assert client.get("/api/v1/devices", params={"limit": raw}, headers=h).status_code == 422
    assert client.get(f"/api/v1/devices/{raw}", headers=h).status_code == 422
    assert client.get(f"/api/v1/inventory-reports/{raw}", headers=h).status_code == 422


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00",
                                  "9999-12-31T23:59:59Z"])
def test_datetimes_the_database_cannot_store_are_a_422(client, world, when):
    h = world.analyst_headers()
    for name in ("seen_since", "seen_before", "first_seen_since", "first_seen_before"):
        r = client.get("/api/v1/devices", params={name: when}, headers=h)
        assert r.status_code == 422 and _locs(r) == [f"query.{name}"], r.text
        assert client.get("/api/v1/summary", params={name: when}, headers=h).status_code == 422
    assert client.get("/api/v1/changes", params={"since": when}, headers=h).status_code == 422
    # the ingest log's filter is owned elsewhere; it must at least never fail
    assert client.get("/api/v1/reports", params={"since": when}, headers=h).status_code < 500


def test_datetimes_far_but_storable_are_fine(client, world):
    h = world.analyst_headers()
    for when in ("0001-01-03T00:00:00Z", "9999-12-29T00:00:00+05:00"):
        assert client.get("/api/v1/devices", params={"seen_since": when}, headers=h).status_code == 200


# ---------------------------------------------------------------- cursors


def _two_pages(client, world, path="/api/v1/devices"):
    doc = report_doc(world.agent_id, devices=5, observations=1)
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201
    page = client.get(path, params={"limit": 2}, headers=world.analyst_headers()).json()
    assert page["next_cursor"]
    return page["next_cursor"]


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def test_a_tampered_or_foreign_cursor_is_a_400(client, world):
    cursor = _two_pages(client, world)
    h = world.analyst_headers()
    assert client.get("/api/v1/devices", params={"limit": 2, "cursor": cursor}, headers=h).status_code == 200
    body, _, tag = cursor.partition(".")
    import base64
    import json

    forged_raw = json.dumps({"s": "devices:-last_seen", "v": "2026-01-01 00:00:00+00:00", "i": 1}).encode()
    forged = base64.urlsafe_b64encode(forged_raw).decode().rstrip("=")
    for bad in (_flip(cursor, 3), _flip(cursor, len(cursor) - 2), body, f"{forged}.{tag}", forged, "not-a-cursor",
                "..", "é.é", cursor + "x"):
        r = client.get("/api/v1/devices", params={"limit": 2, "cursor": bad}, headers=h)
        assert r.status_code == 400 and r.json()["error"]["reason"] == "invalid_cursor", (bad, r.text)
    # a valid cursor of one listing is refused by another
    r = client.get("/api/v1/devices", params={"limit": 2, "cursor": cursor, "sort": "id"}, headers=h)
    assert r.status_code == 400
    r = client.get("/api/v1/inventory-reports", params={"cursor": cursor}, headers=h)
    assert r.status_code == 400


def test_cursors_hold_across_collector_processes_on_one_database(engine, settings, world):
    with TestClient(create_app(settings, engine=engine)) as one:
        cursor = _two_pages(one, world)
    # a second collector on the same database (a new app: what another process has) accepts it
    from collector.api import paging

    paging._db_keys.clear()  # as if this were a fresh process: the key comes from the database
    with TestClient(create_app(settings.model_copy(), engine=engine)) as two:
        r = two.get("/api/v1/devices", params={"limit": 2, "cursor": cursor}, headers=world.analyst_headers())
        assert r.status_code == 200, r.text


def test_a_configured_cursor_key_is_used(engine, settings, world):
    keyed = settings.model_copy(update={"cursor_key": SecretStr("k" * 32)})
    with TestClient(create_app(keyed, engine=engine)) as one:
        cursor = _two_pages(one, world)
        h = world.analyst_headers()
        assert one.get("/api/v1/devices", params={"limit": 2, "cursor": cursor}, headers=h).status_code == 200
    with TestClient(create_app(settings, engine=engine)) as other:  # the database's key: not the same
        assert other.get("/api/v1/devices", params={"limit": 2, "cursor": cursor},
                         headers=world.analyst_headers()).status_code == 400


# ---------------------------------------------------------------- CSV injection

EVIL = ['=HYPERLINK("http://x")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def _assert_no_formula(text: str) -> int:
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    assert cells
    bad = [c for c in cells if c.startswith(FORMULA_START)]
    assert bad == [], bad
    return len(cells)


def test_device_export_neutralises_formula_cells(client, world):
    doc = report_doc(world.agent_id, devices=len(EVIL), observations=1)
    for n, evil in enumerate(EVIL):
        if evil[0] in "\t\r":
            continue  # not a valid hostname (control character); covered by the vendor hint below
        doc["devices"][n]["hostnames"] = [evil]
        doc["devices"][n]["identification"] = {"vendor_id": "x", "vendor": evil, "product": evil}
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201, doc
    r = client.get("/api/v1/export/devices.csv", headers=world.analyst_headers())
    assert r.status_code == 200
    _assert_no_formula(r.text)
    assert "'=HYPERLINK" in r.text and "'=cmd|' /C calc'!A0" in r.text
    # the JSON export is data, not a spreadsheet: unchanged
    r = client.get("/api/v1/export/devices.jsonl", headers=world.analyst_headers())
    assert '"=HYPERLINK(\\"http://x\\")"' in r.text


def test_inventory_csv_neutralises_formula_cells(client, engine, world):
    h = world.admin_headers()
    r = client.post("/api/v1/admin/organisations", json={"name": "=HYPERLINK(\"http://x\")", "sector": "water"},
                    headers=h)
    assert r.status_code == 201
    doc = report_doc(world.agent_id, devices=2, observations=1)
    doc["devices"][0]["identification"] = {"vendor_id": "evil", "vendor": "=cmd|' /C calc'!A0", "country": "CN"}
    doc["devices"][1]["identification"] = {"vendor_id": "evil2", "vendor": "@SUM(1)", "country": "CN"}
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201
    period = datetime.now(UTC).strftime("%Y-%m")
    r = client.post("/api/v1/admin/inventory-reports", json={"period": period, "format": "csv"}, headers=h)
    assert r.status_code == 201, r.text
    text = client.get(f"/api/v1/inventory-reports/{r.json()['id']}", headers=world.analyst_headers()).text
    _assert_no_formula(text)
    assert "'=cmd|' /C calc'!A0" in text and "'@SUM(1)" in text


def test_the_csv_helper():
    from collector.exports import csv_cell

    assert [csv_cell(v) for v in ["=1", "+1", "-1", "@a", "\ta", "\ra", "a=1", "", None, 3, -3]] == [
        "'=1", "'+1", "'-1", "'@a", "'\ta", "'\ra", "a=1", "", None, 3, -3]


# ---------------------------------------------------------------- export quota, /metrics


def test_the_export_quota_is_atomic_under_concurrent_requests(client, world, engine):
    doc = report_doc(world.agent_id, devices=3, observations=1)
    assert client.post("/api/v1/reports", json=doc, headers=world.agent_headers()).status_code == 201
    n = 20
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def export() -> None:
        barrier.wait()
        status = client.get("/api/v1/export/devices.jsonl", headers=world.analyst_headers()).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=export) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200] * 6 + [429] * (n - 6), statuses
    # another token has a quota of its own
    from sqlmodel import Session

    from collector import admin

    with Session(engine) as s:
        _row, other = admin.create_api_token(s, name="other", role="analyst")
        s.commit()
    r = client.get("/api/v1/export/devices.jsonl", headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 200


def test_metrics_need_an_api_token_and_say_nothing_per_organisation(client, world):
    r = client.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["reason"] == "missing_credentials"
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/metrics", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert client.get("/metrics", headers=world.agent_headers()).status_code == 403
    assert client.post("/api/v1/reports", json=report_doc(world.agent_id),
                       headers=world.agent_headers()).status_code == 201
    for headers in (world.analyst_headers(), world.admin_headers()):
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 200 and "herkomst_reports_total" in r.text
        assert "Testland" not in r.text and "organisation" not in r.text


def test_settings_take_a_cursor_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("HERKOMST_CURSOR_KEY", "s3cret")
    assert Settings().cursor_key is not None and Settings().cursor_key.get_secret_value() == "s3cret"
