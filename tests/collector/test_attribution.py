"""Attribution in the collector: verdicts from stored evidence with the real fingerprints engine, re-attribution
that records what changed, resumes after an interruption and changes nothing when run twice."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

import fingerprints
from collector import attribution
from collector.app import create_app
from collector.models import AttributionRun, Identification, IdentificationChange
from tests.conftest import World


def _obs(kind: str, value: str, port: int | None = None) -> dict[str, object]:
    return {"kind": kind, "value": value, "port": port, "proto": "tcp" if port else "l2", "source": "probe",
            "seen_at": datetime.now(UTC).isoformat()}


DEVICES = {
    # a Hikvision camera: listed (CN)
    "camera": {"mac": "44:19:b6:00:00:01", "ips": ["198.18.0.21"], "observations": [
        _obs("mac", "44:19:b6:00:00:01"), _obs("http.server", "App-webs/", 80),
        _obs("tls.subject", "CN=IPC,O=Hikvision,C=CN", 443)]},
    # a Siemens PLC: not listed (DE)
    "plc": {"mac": "28:63:36:00:00:02", "ips": ["198.18.1.10"], "observations": [
        _obs("mac", "28:63:36:00:00:02"), _obs("s7.module", "6ES7 215-1AG40-0XB0", 102),
        _obs("s7.vendor", "Siemens AG", 102)]},
}


def _report(agent_id: str) -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
    return {"schema": "herkomst.report/1", "report_id": str(uuid.uuid4()),
            "agent": {"id": agent_id, "version": "test"},
            "scan": {"scope": ["198.18.0.0/23"], "profile": "safe", "started_at": now, "finished_at": now,
                     "packets_sent": 10, "max_packet_rate": 5},
            "devices": list(DEVICES.values())}


@pytest.fixture
def attributing_client(engine, settings):
    settings.attribute_on_ingest = True
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _verdicts(engine) -> dict[str, tuple[str | None, bool, str]]:
    with Session(engine) as s:
        rows = s.execute(select(Identification)).scalars().all()
    return {r.vendor_id or "?": (r.country, r.flagged, r.origin) for r in rows}


def test_ingest_attributes_every_device_with_evidence_and_versions(attributing_client, world: World, engine):
    r = attributing_client.post("/api/v1/reports", json=_report(world.agent_id), headers=world.agent_headers())
    assert r.status_code == 201
    verdicts = _verdicts(engine)
    assert verdicts["hikvision"] == ("CN", True, "collector")
    assert verdicts["siemens"][:2] == ("DE", False)
    items = attributing_client.get("/api/v1/devices", params={"flagged": "true"},
                                   headers=world.analyst_headers()).json()["items"]
    assert [d["vendor_id"] for d in items] == ["hikvision"]
    detail = attributing_client.get(f"/api/v1/devices/{items[0]['id']}", headers=world.analyst_headers()).json()
    ident = detail["identification"]
    assert ident["catalogue_version"] == fingerprints.catalogue_version()
    assert ident["policy_version"] == fingerprints.policy_version()
    assert ident["detail"]["flag_reasons"] and ident["detail"]["evidence"]
    assert {e["kind"] for e in ident["detail"]["evidence"]} & {"http.server", "tls.subject", "mac"}
    with Session(engine) as s:
        changes = s.execute(select(IdentificationChange.change)).scalars().all()
    assert sorted(changes) == ["flagged", "identified", "identified"]


def test_reattribution_is_idempotent_and_resumable(client, world: World, engine, monkeypatch):
    client.post("/api/v1/reports", json=_report(world.agent_id), headers=world.agent_headers())
    assert attribution.needs_reattribution(engine)
    seen: list[tuple[int, int]] = []
    run = attribution.reattribute(engine, batch=1, progress=lambda done, total: seen.append((done, total)))
    assert run.devices_done == 2 and run.finished_at is not None and seen[-1] == (2, 2)
    assert not attribution.needs_reattribution(engine)
    first = _verdicts(engine)
    # A second full run with the same catalogue changes nothing.
    monkeypatch.setattr(attribution, "current_versions", lambda **_: ("test-cat", "test-pol"))
    again = attribution.reattribute(engine)
    assert again.changes == 0 and _verdicts(engine) == first

    # Interrupted after the first batch of a newer catalogue: the next run carries on where it stopped.
    monkeypatch.setattr(attribution, "current_versions", lambda **_: ("test-cat-2", "test-pol"))
    real = attribution.attribute
    calls = {"n": 0}

    def dies_on_second_batch(session, *, device_ids, now=None, policy=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(session, device_ids=device_ids, now=now, policy=policy)

    monkeypatch.setattr(attribution, "attribute", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        attribution.reattribute(engine, batch=1)
    monkeypatch.setattr(attribution, "attribute", real)
    resumed = attribution.reattribute(engine, batch=1)
    assert resumed.devices_done == 2  # one from the interrupted pass, one now
    with Session(engine) as s:
        runs = s.execute(select(func.count()).select_from(AttributionRun)).scalar_one()
    assert runs == 3


def test_a_policy_change_is_recorded_as_what_changed(client, world: World, engine):
    client.post("/api/v1/reports", json=_report(world.agent_id), headers=world.agent_headers())
    attribution.reattribute(engine)
    # An admin sets a policy that lists Germany instead: the camera is no longer flagged, the PLC is.
    doc = {**json.loads(fingerprints.load_policy().model_dump_json()), "version": "test-de", "countries": ["DE"]}
    r = client.post("/api/v1/admin/policy", json={"policy": doc, "note": "what-if made official"},
                    headers=world.admin_headers())
    assert r.status_code == 201, r.text
    assert attribution.needs_reattribution(engine) is False  # the background task after the answer ran it
    with Session(engine) as s:
        changes = {(c.new_vendor_id, c.change, c.reason) for c in s.execute(
            select(IdentificationChange).where(IdentificationChange.policy_version == "test-de")).scalars()}
    assert changes == {("hikvision", "unflagged", "policy"), ("siemens", "flagged", "policy")}
    # the device itself shows how its verdict went, newest first, with the versions and the reason of each
    with Session(engine) as s:
        camera = s.execute(select(Identification.device_id).where(Identification.vendor_id == "hikvision")).scalar_one()
    detail = client.get(f"/api/v1/devices/{camera}", headers=world.analyst_headers()).json()
    assert [(v["change"], v["new_flagged"], v["policy_version"], v["reason"]) for v in detail["verdicts"]][:2] == [
        ("unflagged", False, "test-de", "policy"), ("flagged", True, fingerprints.policy_version(), "evidence")]
    page = client.get("/api/v1/changes", params={"catalogue_version": fingerprints.catalogue_version(),
                                                 "reason": "policy"}, headers=world.analyst_headers()).json()
    assert sorted(c["change"] for c in page["items"]) == ["flagged", "unflagged"]


def test_what_changed_since_a_date_or_a_catalogue_version(attributing_client, world: World, engine):
    before = datetime.now(UTC).isoformat()
    attributing_client.post("/api/v1/reports", json=_report(world.agent_id), headers=world.agent_headers())
    h = world.analyst_headers()
    r = attributing_client.get("/api/v1/changes", params={"since": before, "change": "flagged"}, headers=h).json()
    assert [(c["new_vendor_id"], c["organisation"]) for c in r["items"]] == [("hikvision", "Waterschap Testland")]
    by_version = attributing_client.get(
        "/api/v1/changes", params={"catalogue_version": fingerprints.catalogue_version()}, headers=h
    ).json()
    assert len(by_version["items"]) == 3
    assert attributing_client.get("/api/v1/changes", headers=h).json()["error"]["reason"] == "missing_parameter"
    cat = attributing_client.get("/api/v1/devices", params={"category": "cctv"}, headers=h).json()["items"]
    assert [d["vendor_id"] for d in cat] == ["hikvision"]


def test_a_verdict_is_judged_as_of_the_day_the_device_was_last_seen(client, world: World, engine):
    """KUKA (DE) is Midea's (CN) since 2017: a robot controller last seen in 2016 was not then a listed maker's,
    one seen in 2024 is — and each keeps its own verdict through re-attribution."""
    from collector.models import Device

    kuka = {"mac": "00:0a:9d:00:00:07", "ips": ["198.18.1.30"],
            "observations": [_obs("upnp.manufacturer", "KUKA Roboter GmbH")]}
    other = {**kuka, "mac": "00:0a:9d:00:00:08", "ips": ["198.18.1.31"]}
    report = {**_report(world.agent_id), "devices": [kuka, other]}
    assert client.post("/api/v1/reports", json=report, headers=world.agent_headers()).status_code == 201
    with Session(engine) as s:
        ids = {d.mac: d.id for d in s.execute(select(Device)).scalars()}
        s.get(Device, ids[kuka["mac"]]).last_seen = datetime(2016, 6, 1, tzinfo=UTC)
        s.get(Device, ids[other["mac"]]).last_seen = datetime(2024, 6, 1, tzinfo=UTC)
        s.commit()
        attribution.attribute(s, device_ids=list(ids.values()))
        s.commit()
        verdicts = {r.device_id: r for r in s.execute(select(Identification)).scalars()}
    old, new = verdicts[ids[kuka["mac"]]], verdicts[ids[other["mac"]]]
    assert old.vendor_id == new.vendor_id == "kuka"
    assert not old.flagged and old.owner_country is None
    assert new.flagged and new.owner_country == "CN"
    assert any("Midea" in reason for reason in new.detail["flag_reasons"])


def test_a_fact_that_begins_or_ends_on_a_date_moves_the_versions_the_collector_attributes_with():
    from datetime import date, timedelta

    day = date(2024, 6, 1)
    boundary = fingerprints.validity_epoch(day)  # the last day on or before it that some fact began or ended
    assert boundary is not None and boundary <= day
    assert attribution.current_versions(boundary) == attribution.current_versions(day)  # nothing began or ended
    assert attribution.current_versions(boundary - timedelta(days=1)) != attribution.current_versions(boundary)
    assert attribution.current_versions(date(2016, 6, 1)) != attribution.current_versions(day)
    assert all(len(v) <= 32 for v in attribution.current_versions())  # the columns' width


def test_one_runner_across_processes_and_another_takes_over_when_it_dies(client, world: World, engine):
    """Replicas on one database agree on one re-attribution runner (an advisory lock on PostgreSQL, an flock beside
    the SQLite file). A second caller is told at once; when the holder's process dies, the lock goes with it."""
    client.post("/api/v1/reports", json=_report(world.agent_id), headers=world.agent_headers())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from collector.db import exclusive, make_engine\n"
         "with exclusive(make_engine(sys.argv[1]), 'reattribute'):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(600)\n", engine.url.render_as_string(hide_password=False)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(attribution.ReattributionBusy):
            attribution.reattribute(engine)
        assert attribution.needs_reattribution(engine)  # nothing was done twice, nor half
    finally:
        holder.kill()  # SIGKILL: no clean-up in the holder
        holder.wait(timeout=30)
    run = attribution.reattribute(engine)
    assert run.devices_done == 2 and not attribution.needs_reattribution(engine)
