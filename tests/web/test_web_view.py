"""The web view's rules, checked fast in-process: login and cookie, CSP and escaping, bad input, audit."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from collector.models import AuditLog
from tests.collector.inventory_data import EVIL_VENDOR, load


@pytest.fixture
def ui(client, engine):
    """A logged-in browser-like client over the known inventory, with one stored HTML report."""
    inv = load(client, engine)
    r = client.post("/api/v1/admin/inventory-reports", json={"period": str(inv.period), "format": "html"},
                    headers=inv.water.admin_headers())
    assert r.status_code == 201
    login = client.post("/ui/login", data={"token": inv.water.analyst_token}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/ui/reports"
    return inv, r.json()


def test_pages_need_a_login_and_the_cookie_is_locked_down(client, world):
    for path in ("/ui/reports", "/ui/devices", "/ui/reports/1", "/ui/devices/1", "/ui/reports/1/view"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login", path
    r = client.post("/ui/login", data={"token": world.analyst_token}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert client.get("/ui/reports").status_code == 200
    client.post("/ui/logout", follow_redirects=False)
    assert client.get("/ui/reports", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", ["", "hkt_nope", "hka_notanapitoken.x", "x" * 5000])
def test_bad_tokens_are_refused(client, world, token):
    r = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert r.status_code in (401, 413) and "set-cookie" not in r.headers


def test_agent_keys_do_not_open_the_view(client, world):
    r = client.post("/ui/login", data={"token": world.agent_key}, follow_redirects=False)
    assert r.status_code == 401


def test_cross_origin_login_is_refused(client, world):
    r = client.post("/ui/login", data={"token": world.analyst_token}, headers={"Origin": "https://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403 and "cross_origin" in r.text


def test_every_page_carries_a_strict_csp_and_escapes_data(client, ui):
    inv, report = ui
    for path in ("/ui/reports", f"/ui/reports/{report['id']}", "/ui/devices?q=evil", f"/ui/devices/{inv.evil_id}"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in r.text.lower(), path
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in client.get("/ui/devices?q=evil").text
    view = client.get(f"/ui/reports/{report['id']}/view")
    assert "sandbox" in view.headers["content-security-policy"] and "frame-ancestors 'self'" in view.headers[
        "content-security-policy"]


def test_device_search_shows_evidence(client, ui):
    inv, _report = ui
    page = client.get("/ui/devices", params={"q": "hikv", "flagged": "yes"}).text
    assert "App-webs/" in page and "http.server.app-webs" in page and "headquarters in China" in page
    assert client.get("/ui/devices", params={"q": "100%_"}).status_code == 200  # wildcards are literal
    assert "No device matches" in client.get("/ui/devices", params={"q": "x' OR '1'='1"}).text
    assert "Energienet" in client.get("/ui/devices", params={"country": "RU"}).text
    page1 = client.get("/ui/devices", params={"limit": 4}).text
    assert "Next page" in page1 and "(more on the next page)" in page1


BAD_INPUT = [
    ("/ui/devices", {"limit": 10**9}, 422, "page_too_large"), ("/ui/devices", {"limit": "0"}, 422, "invalid_limit"),
    ("/ui/devices", {"flagged": "perhaps"}, 422, "invalid_flagged"),
    ("/ui/devices", {"sector": "water'--"}, 422, "unknown_sector"),
    ("/ui/devices", {"country": "<b>"}, 422, "invalid_country"),
    ("/ui/devices", {"q": "x" * 101}, 422, "query_too_long"),
    ("/ui/devices", {"evil": "1"}, 422, "unknown_parameter"),
    ("/ui/devices", {"after": "1;DROP"}, 422, "invalid_cursor"),
    ("/ui/reports", {"period": "2026-13x"}, 422, "invalid_period"),
    ("/ui/reports", {"format": "exe"}, 422, "unknown_format"),
    ("/ui/reports/99999", {}, 404, "inventory_report_not_found"),
    ("/ui/reports/1%20OR%201=1", {}, 404, "inventory_report_not_found"),
    ("/ui/devices/abc", {}, 404, "device_not_found"),
]


def test_bad_input_gets_a_clear_4xx_page(client, ui):
    # One loaded world for every case: loading it per case would triple this file's run time.
    for path, params, status, reason in BAD_INPUT:
        r = client.get(path, params=params)
        assert r.status_code == status and reason in r.text, (path, params, r.text[:300])
        assert "<script" not in r.text.lower()


def test_ui_pages_are_audited(client, ui, engine):
    inv, report = ui
    client.get("/ui/devices", params={"q": "dahua"})
    client.get(f"/ui/reports/{report['id']}")
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.route.like("/ui/%"))).all()  # type: ignore[attr-defined]
    routes = {r.route for r in rows}
    assert {"/ui/login", "/ui/devices", "/ui/reports/{report_id}"} <= routes
    assert any('"dahua"' in r.query for r in rows) and all(r.token_name.startswith("analyst") for r in rows)


def test_the_evil_vendor_never_reaches_a_page_unescaped(client, ui):
    inv, report = ui
    for path in (f"/ui/reports/{report['id']}/view", f"/ui/devices/{inv.evil_id}", "/ui/devices"):
        assert EVIL_VENDOR not in client.get(path).text
