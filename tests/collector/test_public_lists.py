"""Public lists as dated data on the verdict: "on the FCC Covered List since 2021-03-12", shown (never a flag by
itself), filterable in the API, and dated — a device judged before a vendor was listed is not shown on the list."""

from __future__ import annotations

from datetime import UTC, datetime

import fingerprints
from collector import attribution
from fingerprints.identification import Obs
from tests.factories import report_doc


def test_the_verdict_names_the_lists_that_held_on_the_day_judged():
    camera = [Obs("http.server", "App-webs/", 80)]
    today = fingerprints.identify(camera)
    lists = {entry.list: entry for entry in today.lists}
    assert lists["fcc-covered"].since == "2021-03-12" and "FCC Covered List" in lists["fcc-covered"].name
    assert lists["fcc-covered"].vendor_id == "hikvision" and lists["fcc-covered"].source
    # judged as of 2020: the FCC listing (2021-03-12) did not hold yet, the NDAA 889 one (2018) did
    then = {e.list for e in fingerprints.identify(camera, when=datetime(2020, 6, 1).date()).lists}
    assert "ndaa-889" in then and "fcc-covered" not in then
    # a vendor on no list: nothing shown
    assert fingerprints.identify([Obs("http.server", "Siemens Switch", 80),
                                  Obs("snmp.sysdescr", "Siemens, SIMATIC S7, CPU 1214C", 161)]).lists == []


def test_devices_filter_on_a_public_list_and_the_detail_shows_it(client, engine, world):
    now = datetime.now(UTC).replace(microsecond=0)
    doc = report_doc(world.agent_id, devices=1, observations=1, seen_at=now)
    doc["devices"][0]["observations"].append({"kind": "http.server", "value": "App-webs/", "port": 80,
                                              "proto": "tcp", "source": "probe", "seen_at": now.isoformat()})
    other = report_doc(world.agent_id, devices=1, observations=1, seen_at=now, mac_base=0x00_0E_8C_00_00_00,
                       ip_base="198.18.5.")
    other["devices"][0]["observations"].append({"kind": "snmp.sysdescr", "value": "Siemens, SIMATIC S7, CPU 1214C",
                                                "port": 161, "proto": "udp", "source": "probe",
                                                "seen_at": now.isoformat()})
    for d in (doc, other):
        assert client.post("/api/v1/reports", json=d, headers=world.agent_headers()).status_code == 201
    attribution.reattribute(engine)
    h = world.analyst_headers()
    listed = client.get("/api/v1/devices", params={"public_list": "fcc-covered"}, headers=h).json()["items"]
    assert [d["vendor_id"] for d in listed] == ["hikvision"]
    assert len(client.get("/api/v1/devices", headers=h).json()["items"]) == 2
    detail = client.get(f"/api/v1/devices/{listed[0]['id']}", headers=h).json()
    shown = {e["list"] for e in detail["identification"]["detail"]["lists"]}
    assert {"fcc-covered", "ndaa-889", "us-entity-list"} <= shown
    r = client.get("/api/v1/devices", params={"public_list": "eu-made-up"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["reason"] == "unknown_list"
    client.post("/ui/login", data={"token": world.analyst_token}, follow_redirects=False)
    page = " ".join(client.get(f"/ui/devices/{listed[0]['id']}").text.split())
    assert "on the FCC Covered List (US Secure and Trusted Communications Networks Act) since 2021-03-12" in page
