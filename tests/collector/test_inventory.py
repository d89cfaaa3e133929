"""Inventory reports: period rules, the figures (both databases), every format, pseudonyms, the API, the CLI."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from collector.inventory import Period, PeriodError, Pseudonymiser, current_period, gather, parse_period
from collector.inventory.pdf import find_chromium
from collector.inventory.schedule import parse_schedule, run_due
from collector.models import AuditLog, InventoryReport
from tests.collector.inventory_data import ENERGY, EVIL_VENDOR, WATER, load


@pytest.fixture
def inv(client, engine):
    return load(client, engine)


def _generate(client, inv, **body):
    r = client.post("/api/v1/admin/inventory-reports", json={"period": str(inv.period), **body},
                    headers=inv.water.admin_headers())
    assert r.status_code == 201, r.text
    return r.json()


def _download(client, inv, report_id):
    r = client.get(f"/api/v1/inventory-reports/{report_id}", headers=inv.water.analyst_headers())
    assert r.status_code == 200, r.text
    return r


@pytest.mark.parametrize(
    ("text", "reason"),
    [("2026-13", "invalid_period"), ("2026-00", "invalid_period"), ("1999-01", "period_too_early"),
     ("2999-01", "period_in_future"), ("2026-1", "invalid_period"), ("november", "invalid_period"),
     ("2026-11' OR '1'='1", "invalid_period"), ("", "invalid_period")],
)
def test_impossible_periods_are_refused_with_a_reason(text, reason):
    with pytest.raises(PeriodError) as err:
        parse_period(text, now=datetime(2026, 11, 30, tzinfo=UTC))
    assert err.value.reason == reason


def test_periods_know_their_bounds_and_neighbours():
    p = parse_period("2026-01", now=datetime(2026, 11, 30, tzinfo=UTC))
    assert p.previous() == Period(2025, 12) and p.next() == Period(2026, 2)
    assert p.start == datetime(2026, 1, 1, tzinfo=UTC) and p.end == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_period("2026-11", now=datetime(2026, 11, 30, tzinfo=UTC)).in_progress(
        datetime(2026, 11, 30, tzinfo=UTC))


def test_the_figures_for_a_month_and_its_trend(engine, client):
    inv = load(client, engine)
    with Session(engine) as session:
        c = gather(session, period=inv.period)
    assert (c.totals.devices, c.totals.flagged, c.totals.organisations, c.totals.organisations_with_flagged) == (
        9, 3, 2, 2)
    assert (c.previous_totals.devices, c.previous_totals.flagged) == (6, 2)
    cells = {(x.sector, x.country): (x.devices, x.flagged) for x in c.by_sector_country}
    assert cells[("water", "CN")] == (2, 2) and cells[("water", "DE")] == (1, 0)
    assert cells[("energie", "RU")] == (1, 1) and cells[("water", None)] == (3, 0)
    trend = {t.sector: (t.previous_flagged, t.flagged) for t in c.trend}
    assert trend == {"water": (2, 2), "energie": (0, 1)}
    added = sorted((x.vendor, x.reason) for x in c.flagged_added)
    assert added == [(EVIL_VENDOR, "new_device"), ("Dahua", "new_device")]
    removed = sorted((x.vendor, x.reason) for x in c.flagged_removed)
    assert removed == [("Huawei", "no_longer_seen"), ("Siemens", "reattributed_unflagged")]
    assert {v.vendor_id for v in c.top_vendors} == {"hikvision", "dahua", "evil"}
    assert {(k.category, k.devices) for k in c.top_categories} == {("camera", 1), (None, 2)}
    # the Hikvision and Dahua devices, by the catalogue's dated list facts as they stood at the month's end
    lists = {x.list: (x.devices, x.flagged, x.organisations) for x in c.public_lists}
    assert lists["fcc-covered"] == (2, 2, 1) and lists["ndaa-889"] == (2, 2, 1)
    assert "us-ofac-sdn" not in lists  # no device of a vendor on it: no row
    orgs = {o.organisation: (o.devices, o.flagged, o.flagged_vendors) for o in c.organisations}
    assert orgs[WATER] == (6, 2, ["Dahua", "Hikvision"]) and orgs[ENERGY] == (3, 1, [EVIL_VENDOR])
    hik = next(a for a in c.appendix if a.device_id == inv.hikvision_id)
    assert [e.rule_id for e in hik.evidence] == ["http.server.app-webs", "tls.subject.o"]
    assert hik.conflicts[0]["vendor"] == "Ezviz" and c.appendix_total == 3
    assert {v.origin for v in c.method.identification_versions} == {"agent", "collector"}
    with Session(engine) as session:
        water = gather(session, period=inv.period, sector="water")
    assert (water.totals.devices, water.totals.flagged, water.sector_name) == (6, 2, "Water management")
    assert {o.organisation for o in water.organisations} == {WATER}


def test_long_lists_are_cut_but_totals_stay_exact(client, inv, engine, monkeypatch):
    from collector.inventory import render_html

    # the package re-exports the function `gather`, which shadows the module's name as an attribute
    monkeypatch.setattr(sys.modules["collector.inventory.gather"], "LIST_LIMIT", 1)
    with Session(engine) as session:
        c = gather(session, period=inv.period, appendix_limit=1)
    assert (len(c.flagged_added), c.flagged_added_total, len(c.flagged_removed), c.flagged_removed_total) == (
        1, 2, 1, 2)
    assert (len(c.appendix), c.appendix_total, len(c.organisations)) == (1, 3, 1)
    html = render_html(c)
    assert "1 more not shown" in html and "1 of 3 flagged devices shown" in html


def test_an_empty_month_still_makes_a_readable_report(engine):
    from collector.inventory import render_html

    with Session(engine) as session:
        c = gather(session, period=current_period().previous())
    html = render_html(c)
    assert c.totals.devices == 0 and "No devices were seen in this period." in html and "0</b> devices" in html


def test_the_html_report_is_self_contained_escaped_and_complete(client, inv):
    meta = _generate(client, inv, format="html")
    r = _download(client, inv, meta["id"])
    html = r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest() == meta["sha256"]
    assert "attachment" in r.headers["content-disposition"] and "sandbox" in r.headers["content-security-policy"]
    for section in ("summary", "sector-country", "listed", "trend", "changes", "organisations", "method", "appendix"):
        assert f'id="{section}"' in html
    assert html.count("<svg") >= 3 and "App-webs/" in html and "http.server.app-webs" in html
    assert "9</b> devices" in html and "Ezviz" in html and "2026.11.1" in html
    # nothing loaded from anywhere, no script, the hostile vendor name shown as text
    low = html.lower()
    assert "<script" not in low and "<link" not in low and " src=" not in low and "@import" not in low
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_pseudonymised_reports_name_no_organisation(client, inv, engine):
    for fmt in ("html", "json", "csv"):
        meta = _generate(client, inv, format=fmt, pseudonymise=True)
        body = _download(client, inv, meta["id"]).text
        assert WATER not in body and ENERGY not in body and "waterschap-testland" not in body, fmt
        assert "ORG-" in body and meta["pseudonymised"] is True
    doc = json.loads(_download(client, inv, _generate(client, inv, format="json", pseudonymise=True)["id"]).text)
    hik = next(a for a in doc["appendix"] if a["device_id"] == inv.hikvision_id)
    assert hik["evidence"][1]["value"].startswith("[withheld")


def test_pseudonyms_are_stable_under_a_key_and_unlinkable_without_one():
    keyed_a, keyed_b = Pseudonymiser(b"k" * 32), Pseudonymiser(b"k" * 32)
    assert keyed_a.name(WATER) == keyed_b.name(WATER) != keyed_a.name(ENERGY)
    assert Pseudonymiser(None).name(WATER) != Pseudonymiser(None).name(WATER)
    assert Pseudonymiser(b"other-key-000000").name(WATER) != keyed_a.name(WATER)


def test_csv_and_json_exports_carry_the_same_figures(client, inv):
    rows = list(csv.DictReader(io.StringIO(_download(client, inv, _generate(client, inv, format="csv")["id"]).text)))
    assert sum(int(r["devices"]) for r in rows) == 9
    assert sum(int(r["devices"]) for r in rows if r["flagged"] == "true") == 3
    evil = next(r for r in rows if r["vendor_id"] == "evil")
    assert evil["organisation"] == ENERGY and evil["country"] == "RU"
    doc = json.loads(_download(client, inv, _generate(client, inv, format="json")["id"]).text)
    assert doc["schema"] == "herkomst.inventory/1" and doc["totals"]["devices"] == 9
    assert doc["period"] == str(inv.period) and doc["previous_period"] == str(inv.previous)


def test_csv_cells_that_spreadsheets_would_run_are_defused(client, engine):
    from tests.collector.inventory_data import hint
    from tests.conftest import make_world
    from tests.factories import report_doc

    w = make_world(engine, "=HYPERLINK(\"http://x\")", "water")
    doc = report_doc(w.agent_id, devices=1, seen_at=current_period().previous().start)
    hint(doc, 0, "x", "@SUM(A1)", "CN", True)
    assert client.post("/api/v1/reports", json=doc, headers=w.agent_headers()).status_code == 201
    r = client.post("/api/v1/admin/inventory-reports", json={"period": str(current_period().previous()),
                    "format": "csv"}, headers=w.admin_headers())
    text = client.get(f"/api/v1/inventory-reports/{r.json()['id']}", headers=w.analyst_headers()).text
    row = list(csv.DictReader(io.StringIO(text)))[0]
    assert row["organisation"].startswith("'=") and row["vendor"] == "'@SUM(A1)"


def test_reports_are_listed_downloaded_and_audited(client, inv, engine):
    first = _generate(client, inv, format="json")
    second = _generate(client, inv, format="html", sector="water")
    h = inv.water.analyst_headers()
    listing = client.get("/api/v1/inventory-reports", headers=h).json()
    assert [x["id"] for x in listing["items"]] == [second["id"], first["id"]]
    assert client.get("/api/v1/inventory-reports", params={"sector": "water"}, headers=h).json()["items"][0][
        "id"] == second["id"]
    page = client.get("/api/v1/inventory-reports", params={"limit": 1}, headers=h).json()
    rest = client.get("/api/v1/inventory-reports", params={"limit": 1, "cursor": page["next_cursor"]}, headers=h)
    assert rest.json()["items"][0]["id"] == first["id"]
    _download(client, inv, first["id"])
    with Session(engine) as session:
        routes = [a.route for a in session.exec(select(AuditLog)).all()]
        stored = session.get(InventoryReport, second["id"])
    assert "/api/v1/inventory-reports" in routes and "/api/v1/inventory-reports/{report_id}" in routes
    assert "/api/v1/admin/inventory-reports" in routes
    assert stored is not None and stored.created_by.startswith("admin") and stored.sector == "water"


def test_analysts_read_but_do_not_generate(client, inv):
    r = client.post("/api/v1/admin/inventory-reports", json={"period": str(inv.period)},
                    headers=inv.water.analyst_headers())
    assert r.status_code == 403 and r.json()["error"]["reason"] == "forbidden"
    assert client.get("/api/v1/inventory-reports").status_code == 401
    assert client.get("/api/v1/inventory-reports", headers=inv.water.agent_headers()).status_code == 403


BAD_GENERATION = [
    ({"period": "2026-13"}, "invalid_period"), ({"period": "1999-01"}, "period_too_early"),
    ({"period": "2999-12"}, "period_in_future"), ({"period": "2026-11'; DROP TABLE device; --"}, "invalid_request"),
    ({"period": "2026-1"}, "invalid_period"), ({"period": "LAST", "sector": "water"}, "invalid_period"),
    ({"sector": "water<script>"}, "unknown_sector"), ({"format": "exe"}, "invalid_request"),
    ({"pseudonymize": True}, "invalid_request"),
]
BAD_LISTING = [
    ({"limit": 10**9}, "page_too_large"), ({"limit": 0}, "invalid_request"),
    ({"perod": "2026-11"}, "unknown_parameter"),
    ({"period": "2026-11' OR 1=1"}, "invalid_request"), ({"format": "exe"}, "invalid_request"),
    ({"cursor": "bm90LW91cnM"}, "invalid_cursor"),
]


def test_bad_requests_get_a_clear_4xx(client, inv, engine):
    # One loaded world for every case; each case names itself when it fails.
    for body, reason in BAD_GENERATION:
        payload = {"period": str(inv.period), **body}
        r = client.post("/api/v1/admin/inventory-reports", json=payload, headers=inv.water.admin_headers())
        assert 400 <= r.status_code < 500 and r.json()["error"]["reason"] == reason, (body, r.text)
    for params, reason in BAD_LISTING:
        r = client.get("/api/v1/inventory-reports", params=params, headers=inv.water.analyst_headers())
        assert 400 <= r.status_code < 500 and r.json()["error"]["reason"] == reason, (params, r.text)
    with Session(engine) as session:
        assert session.exec(select(InventoryReport)).all() == []  # nothing was generated by a bad request


def test_unknown_report_is_a_404_and_an_impossible_id_a_422(client, inv):
    r = client.get("/api/v1/inventory-reports/424242", headers=inv.water.analyst_headers())
    assert r.status_code == 404 and r.json()["error"]["reason"] == "inventory_report_not_found"
    r = client.get(f"/api/v1/inventory-reports/{10**20}", headers=inv.water.analyst_headers())
    assert r.status_code == 422 and r.json()["error"]["reason"] == "invalid_request"


def test_the_schedule_makes_last_months_reports_once(engine, client):
    inv = load(client, engine)
    assert parse_schedule(" HTML, json,html") == ["html", "json"]
    with pytest.raises(ValueError, match="exe"):
        parse_schedule("html,exe")
    made = run_due(engine, ["html", "json"])
    assert len(made) == 2 and run_due(engine, ["html", "json"]) == []
    with Session(engine) as session:
        rows = session.exec(select(InventoryReport)).all()
    assert {(r.period, r.format, r.created_by) for r in rows} == {(str(inv.period), "html", "scheduler"),
                                                                  (str(inv.period), "json", "scheduler")}


@pytest.fixture
def sqlite_only(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("exercised once, on SQLite: the code path is the database-independent renderer")


@pytest.mark.skipif(find_chromium() is None, reason="needs Debian's chromium (deploy/setup.sh installs it)")
def test_pdf_is_printed_from_the_same_html(sqlite_only, client, inv):
    meta = _generate(client, inv, format="pdf")
    r = _download(client, inv, meta["id"])
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    assert len(r.content) > 10_000


def test_the_cli_writes_and_stores_a_report(sqlite_only, client, inv, engine, tmp_path):
    env = {**os.environ, "HERKOMST_DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "HERKOMST_REATTRIBUTE_ON_START": "false"}
    out = tmp_path / "r.html"
    cmd = [sys.executable, "-m", "deploy.cli", "collector", "report", "--period", str(inv.period),
           "--sector", "water", "--format", "html", "--output", str(out), "--pseudonymise"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["pseudonymised"] is True and result["sector"] == "water"
    html = out.read_text()
    assert WATER not in html and "ORG-" in html
    with Session(engine) as session:
        row = session.get(InventoryReport, result["id"])
    assert row is not None and row.created_by == "cli" and row.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    bad = subprocess.run([*cmd[:5], "--period", "2026-13"], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode != 0 and "no month 13" in bad.stderr


def test_a_past_month_shows_then_and_now_when_verdicts_changed_since(client, engine):
    """A re-attribution after the month (here: a new policy that lists Germany only) is visible beside the
    month's figures, with the verdicts that held at the month's end."""
    import json as _json

    import fingerprints
    from collector import attribution
    from collector.models import IdentificationChange

    inv = load(client, engine)
    with Session(engine) as session:
        before = gather(session, period=inv.period)
    assert before.then_and_now is not None and before.then_and_now.changed_total == 0
    assert before.then_and_now.flagged_then == before.then_and_now.flagged_now == before.totals.flagged
    attribution.reattribute(engine)  # today's engine on the month's evidence (reason: catalogue)
    doc = {**_json.loads(fingerprints.load_policy().model_dump_json()), "version": "test-de", "countries": ["DE"]}
    assert client.post("/api/v1/admin/policy", json={"policy": doc}, headers=inv.water.admin_headers()
                       ).status_code == 201
    with Session(engine) as session:
        assert session.exec(select(IdentificationChange).where(IdentificationChange.reason == "policy")).first()
        after = gather(session, period=inv.period)
    tn = after.then_and_now
    assert tn is not None and tn.changed_total >= 1
    # "then" is exactly what the report said before anything was re-attributed; "now" is today's figure
    assert tn.flagged_then == before.totals.flagged and tn.flagged_now == after.totals.flagged
    assert tn.flagged_then != tn.flagged_now
    assert {r.reason for r in tn.changed} <= {"evidence", "catalogue", "policy"}  # the first change after the month
    assert any(r.flagged_then and not r.flagged_now for r in tn.changed)
    page = after.model_dump_json()
    assert '"then_and_now"' in page
