"""End to end in Debian's headless Chromium: a real collector (uvicorn, SQLite), data through the real API, a
generated report, and an analyst who logs in, reads the report list, a report, and searches devices for evidence.

Screenshots go to artefacts/web/ (gitignored) for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from collector import admin
from collector.db import make_engine
from collector.inventory import current_period
from collector.inventory.pdf import find_chromium
from collector.migrate import upgrade
from deploy.serve import CollectorProcess
from tests.factories import report_doc

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the e2e driver)")

ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts" / "web"
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (deploy/setup.sh installs it)")


def _device(mac: str, ip: str, obs: list[tuple[str, str, int | None]], seen: str) -> dict:
    observations = [{"kind": "mac", "value": mac, "proto": "l2", "source": "arp", "seen_at": seen}]
    observations += [{"kind": k, "value": v, "port": p, "proto": "tcp" if p else None, "source": "probe",
                      "seen_at": seen} for k, v, p in obs]
    return {"mac": mac, "ips": [ip], "observations": [{k: v for k, v in o.items() if v is not None}
                                                       for o in observations]}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A collector process on a fresh SQLite file, with an organisation, an enrolment token and API tokens."""
    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{tmp / 'herkomst.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:  # the bootstrap an operator does with `herkomst collector admin …`
        org = admin.create_organisation(session, name="Waterschap Rijnland-Oost", sector="water")
        assert org.id is not None
        _t, enrol = admin.create_enrollment_token(session, organisation_id=org.id, site="gemaal",
                                                  expires_in=timedelta(hours=1), max_uses=2)
        _a, analyst = admin.create_api_token(session, name="analyst e2e", role="analyst")
        _b, admin_token = admin.create_api_token(session, name="admin e2e", role="admin")
        session.commit()
    engine.dispose()
    env = {"HERKOMST_DATABASE_URL": url, "HERKOMST_DATA_DIR": str(tmp), "HERKOMST_REATTRIBUTE_ON_START": "false"}
    with CollectorProcess(env, tmp / "collector.log") as proc:
        yield {"base": proc.url, "enrol": enrol, "analyst": analyst, "admin": admin_token}


@pytest.fixture(scope="module")
def loaded(collector: dict) -> dict:
    """Enrol an agent and send two months of reports through the API, then generate last month's report."""
    base = collector["base"]
    r = httpx.post(f"{base}/api/v1/enroll", json={"enrollment_token": collector["enrol"], "hostname": "agent-e2e"})
    assert r.status_code == 201, r.text
    agent = r.json()
    h = {"Authorization": f"Bearer {agent['agent_key']}"}
    period = current_period().previous()
    for month, with_new in ((period.previous(), False), (period, True)):
        seen = (month.start + timedelta(days=10)).isoformat()
        doc = report_doc(agent["agent_id"], devices=0, seen_at=month.start + timedelta(days=10))
        devs = [
            _device("28:57:be:11:22:33", "198.18.0.10", [("http.server", "App-webs/", 80),
                                                         ("tls.subject", "CN=cam1,O=Hikvision,C=CN", 443)], seen),
            _device("00:1b:1b:11:22:33", "198.18.0.20", [("s7.module", "6ES7 315-2EH14-0AB0", 102)], seen),
        ]
        devs[0]["identification"] = {"vendor_id": "hikvision", "vendor": "Hikvision", "country": "CN",
                                     "owner_country": "CN", "flagged": True, "confidence": 0.9}
        devs[1]["identification"] = {"vendor_id": "siemens", "vendor": "Siemens", "country": "DE",
                                     "owner_country": "DE", "flagged": False, "confidence": 0.9}
        if with_new:
            devs.append(_device("00:e0:fc:11:22:33", "198.18.0.30", [(
                "snmp.sysdescr", "Huawei Versatile Routing Platform Software VRP (R) software, Version 5.170", 161)],
                seen))
        doc["devices"] = devs
        r = httpx.post(f"{base}/api/v1/reports", json=doc, headers=h)
        assert r.status_code == 201, r.text
    admin_h = {"Authorization": f"Bearer {collector['admin']}"}
    r = httpx.post(f"{base}/api/v1/admin/inventory-reports", json={"period": str(period), "format": "html"},
                   headers=admin_h, timeout=60)
    assert r.status_code == 201, r.text
    return {**collector, "report": r.json(), "period": period}


def test_an_analyst_reads_reports_and_evidence_in_chromium(loaded: dict) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    base, report = loaded["base"], loaded["report"]
    problems: list[str] = []
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # Failed loads are judged by status below (the wrong token's 401 is expected); other errors count.
        page.on("console", lambda m: problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
                and not r.url.endswith(("/favicon.ico", "/ui/login")) else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(f"{base}/ui/reports")
        assert page.url.endswith("/ui/login")  # not logged in yet
        page.fill("#token", "hkt_not-a-token")
        page.click("button[type=submit]")
        assert "not a valid analyst token" in page.inner_text("main")
        page.fill("#token", loaded["analyst"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/ui/reports")
        cookie = next(c for c in page.context.cookies() if c["name"] == "herkomst_ui")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        table = page.inner_text("#reports")
        assert str(loaded["period"]) in table and "admin e2e" in table
        page.screenshot(path=str(ARTEFACTS / "report-list.png"))

        page.click(f"a[href='/ui/reports/{report['id']}']")
        page.wait_for_url(f"{base}/ui/reports/{report['id']}")
        frame = page.frame_locator("iframe.report")
        summary = frame.locator("#summary").inner_text()
        assert "devices at" in summary and "flagged" in summary
        assert "Hikvision" in frame.locator("#listed").inner_text()
        assert "Huawei" in frame.locator("#changes").inner_text()  # first seen in the period
        page.screenshot(path=str(ARTEFACTS / "report-page.png"))

        page.goto(f"{base}/ui/reports/{report['id']}/view")
        assert page.locator("svg").count() >= 3
        page.screenshot(path=str(ARTEFACTS / "report-html.png"), full_page=True)

        page.goto(f"{base}/ui/devices")
        page.fill("input[name=q]", "hikvision")
        page.select_option("select[name=flagged]", "yes")
        page.click("form.filters button[type=submit]")
        rows = page.locator("#devices tbody tr")
        assert rows.count() == 1 and "Hikvision" in rows.first.inner_text()
        rows.first.locator("summary").click()
        evidence = rows.first.locator("details").inner_text()
        assert "App-webs/" in evidence and "China" in evidence or "CN" in evidence
        page.screenshot(path=str(ARTEFACTS / "device-search.png"), full_page=True)

        rows.first.locator("td a").first.click()
        assert "App-webs/" in page.inner_text("#evidence") and "28:57:be:11:22:33" in page.inner_text("main")
        page.screenshot(path=str(ARTEFACTS / "device-detail.png"), full_page=True)

        page.click("header .logout button")
        page.wait_for_url(f"{base}/ui/login")
        page.goto(f"{base}/ui/devices")
        assert page.url.endswith("/ui/login")
        browser.close()
    # the pages ran under a CSP that forbids script; nothing may have been blocked or failed
    assert problems == [], problems
