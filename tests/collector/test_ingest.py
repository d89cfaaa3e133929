"""Report ingest: stored exactly once, validated, refused with a reason, never half-stored."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.models import Device, Observation, Report, Sighting
from tests.conftest import World, make_world
from tests.factories import report_doc


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _post(client: TestClient, world: World, doc: object, *, gz: bool = False) -> object:
    body = json.dumps(doc).encode()
    headers = {**world.agent_headers(), "Content-Type": "application/json"}
    if gz:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return client.post("/api/v1/reports", content=body, headers=headers)


def test_a_report_is_stored_and_its_receipt_counts_what_was_stored(client, world, engine):
    r = _post(client, world, report_doc(world.agent_id, devices=3, observations=4))
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["devices"] == {"received": 3, "new": 3, "updated": 0}
    assert receipt["observations"] == {"received": 12, "new": 12, "updated": 0}
    assert receipt["duplicate"] is False
    assert _count(engine, Device) == 3 and _count(engine, Observation) == 12 and _count(engine, Report) == 1


def test_the_same_report_again_returns_the_original_receipt_and_stores_nothing(client, world, engine):
    doc = report_doc(world.agent_id)
    first = _post(client, world, doc).json()
    again = _post(client, world, doc, gz=True)  # same document, other encoding
    assert again.status_code == 200
    assert again.json() == {**first, "duplicate": True}
    assert _count(engine, Report) == 1 and _count(engine, Observation) == 9 + 3


def test_the_same_report_id_with_other_content_is_a_conflict(client, world, engine):
    doc = report_doc(world.agent_id)
    assert _post(client, world, doc).status_code == 201
    doc["devices"] = doc["devices"][:1]
    r = _post(client, world, doc)
    assert r.status_code == 409 and r.json()["error"]["reason"] == "report_id_conflict"
    assert _count(engine, Report) == 1


def test_devices_and_observations_merge_across_reports(client, world, engine):
    _post(client, world, report_doc(world.agent_id, devices=2, observations=3))
    later = report_doc(world.agent_id, devices=3, observations=3)
    r = _post(client, world, later).json()
    assert r["devices"] == {"received": 3, "new": 1, "updated": 2}
    assert r["observations"] == {"received": 9, "new": 3, "updated": 6}
    assert _count(engine, Device) == 3 and _count(engine, Observation) == 9 and _count(engine, Sighting) == 5
    with Session(engine) as s:
        seen = s.execute(select(Observation.times_seen).order_by(Observation.id)).scalars().all()
    assert sorted(seen) == [1, 1, 1, 2, 2, 2, 2, 2, 2]


def test_without_mac_a_device_is_its_address_within_the_agents_site(client, world, engine):
    # Private ranges overlap between sites: the same address at another site is another device.
    other = make_world(engine, name="Ziekenhuis Oost", sector="zorg")
    doc_a = report_doc(world.agent_id, devices=2, with_mac=False)
    for d in doc_a["devices"]:
        d["observations"] = [o for o in d["observations"] if o["kind"] != "mac"]
    doc_b = json.loads(json.dumps(doc_a))
    doc_b["report_id"] = str(uuid.uuid4())
    doc_b["agent"]["id"] = other.agent_id
    assert _post(client, world, doc_a).status_code == 201
    assert _post(client, other, doc_b).status_code == 201
    assert _count(engine, Device) == 4
    with Session(engine) as s:
        keys = s.execute(select(Device.identity_key)).scalars().all()
    assert all(k.startswith("ip:") for k in keys)


def test_gzip_on_the_wire_is_accepted_and_kept_as_sent(client, world, engine):
    doc = report_doc(world.agent_id)
    r = _post(client, world, doc, gz=True)
    assert r.status_code == 201
    with Session(engine) as s:
        raw = s.execute(select(Report.raw_gzip)).scalar_one()
    assert json.loads(gzip.decompress(raw)) == doc


def test_host_inventory_becomes_the_agent_hosts_device(client, world, engine):
    doc = report_doc(world.agent_id, devices=1)
    doc["host"] = {
        "hostname": "agent-1", "os": "Debian GNU/Linux 12", "macs": ["52:54:00:12:34:56"],
        "ips": ["198.18.0.10"],
        "observations": [
            {"kind": "host.hardware", "value": "QEMU Standard PC", "proto": "host", "source": "inventory",
             "seen_at": doc["scan"]["finished_at"]},
            {"kind": "host.package", "value": "kesl 12.0 Kaspersky Lab", "proto": "host", "source": "inventory",
             "seen_at": doc["scan"]["finished_at"]},
        ],
    }
    assert _post(client, world, doc).status_code == 201
    with Session(engine) as s:
        host = s.execute(select(Device).where(Device.is_agent_host)).scalars().one()
    assert host.mac == "52:54:00:12:34:56" and host.hostname == "agent-1"


BAD_DOCS = {
    "missing field": (lambda d: d.pop("scan"), 422, "invalid_report"),
    "wrong schema": (lambda d: d.update(schema="herkomst.report/9"), 422, "unsupported_schema"),
    "no schema": (lambda d: d.pop("schema"), 422, "invalid_report"),
    "unknown kind": (lambda d: d["devices"][0]["observations"][0].update(kind="evil.kind"), 422, "invalid_report"),
    "absurd port": (lambda d: d["devices"][0]["observations"][1].update(port=700000), 422, "invalid_report"),
    "far future": (lambda d: d["scan"].update(finished_at="2999-01-01T00:00:00Z"), 422, "invalid_report"),
    "naive time": (lambda d: d["scan"].update(started_at="2026-01-01T00:00:00"), 422, "invalid_report"),
    "bad mac": (lambda d: d["devices"][0].update(mac="zz:zz"), 422, "invalid_report"),
    "bad ip": (lambda d: d["devices"][0].update(ips=["300.1.1.1"]), 422, "invalid_report"),
    "huge value": (lambda d: d["devices"][0]["observations"][1].update(value="x" * 20000), 422, "invalid_report"),
    "negative packets": (lambda d: d["scan"].update(packets_sent=-1), 422, "invalid_report"),
    "extra field": (lambda d: d.update(surprise=True), 422, "invalid_report"),
    "no identity": (lambda d: d["devices"][0].update(mac=None, ips=[]), 422, "invalid_report"),
    "not an object": (lambda d: None, 422, "invalid_report"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCS))
def test_bad_documents_are_refused_with_a_reason_and_store_nothing(client, world, engine, case):
    mutate, status, reason = BAD_DOCS[case]
    doc = report_doc(world.agent_id)
    if case == "not an object":
        doc = [doc]  # type: ignore[assignment]
    else:
        mutate(doc)
    r = _post(client, world, doc)
    assert r.status_code == status, r.text
    assert r.json()["error"]["reason"] == reason
    assert r.json()["error"]["message"]
    assert _count(engine, Report) == 0 and _count(engine, Device) == 0


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"{not json", {}, 400, "malformed_json"),
        (b"\xff\xfe\x00garbage", {}, 400, "malformed_json"),
        (b"\x1f\x8b\x08\x00broken", {"Content-Encoding": "gzip"}, 400, "bad_gzip"),
        (gzip.compress(b'{"schema": "herkomst.report/1"')[:-6], {"Content-Encoding": "gzip"}, 400, "bad_gzip"),
        (b"{}", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
    ],
)
def test_undecodable_bodies_are_refused_with_a_reason(client, world, body, headers, status, reason):
    r = client.post("/api/v1/reports", content=body, headers={**world.agent_headers(), **headers})
    assert r.status_code == status, r.text
    assert r.json()["error"]["reason"] == reason


def test_oversize_bodies_are_refused_before_they_are_read(engine, world, tmp_path):
    from collector.app import create_app
    from collector.settings import Settings

    small = Settings(data_dir=tmp_path, migrate_on_start=False, max_body_bytes=4096, max_decompressed_bytes=65536)
    with TestClient(create_app(small, engine=engine)) as c:
        big = json.dumps(report_doc(world.agent_id, devices=200)).encode()
        r = c.post("/api/v1/reports", content=big, headers=world.agent_headers())
        assert r.status_code == 413 and r.json()["error"]["reason"] == "too_large"


def test_a_decompression_bomb_is_stopped_at_the_limit(engine, world, tmp_path):
    from collector.app import create_app
    from collector.settings import Settings

    small = Settings(data_dir=tmp_path, migrate_on_start=False, max_body_bytes=1 << 20, max_decompressed_bytes=1 << 20)
    bomb = gzip.compress(b" " * (512 << 20), compresslevel=9)  # 512 MiB of spaces in ~500 KiB
    assert len(bomb) < (1 << 20)
    with TestClient(create_app(small, engine=engine)) as c:
        r = c.post("/api/v1/reports", content=bomb, headers={**world.agent_headers(), "Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.json()["error"]["reason"] == "too_large"


def test_a_report_naming_another_agent_is_refused(client, world, engine):
    other = make_world(engine, name="Netbeheerder Noord", sector="energie")
    r = _post(client, world, report_doc(other.agent_id))
    assert r.status_code == 403 and r.json()["error"]["reason"] == "agent_mismatch"
    assert _count(engine, Report) == 0


def test_a_report_id_taken_by_another_organisation_is_a_conflict_not_a_leak(client, world, engine):
    other = make_world(engine, name="Netbeheerder Noord", sector="energie")
    doc = report_doc(world.agent_id)
    assert _post(client, world, doc).status_code == 201
    doc["agent"]["id"] = other.agent_id
    r = _post(client, other, doc)
    assert r.status_code == 409
    assert "devices" not in r.json()


def test_a_failure_midway_stores_nothing_and_the_report_can_be_sent_again(engine, world, settings, monkeypatch):
    import collector.ingest as ingest
    from collector.app import create_app

    client = TestClient(create_app(settings, engine=engine), raise_server_exceptions=False)

    real = ingest._upsert_observations

    def fail_after_devices(*args, **kwargs):
        real(*args, **kwargs)  # devices and observations are written …
        raise RuntimeError("disk on fire")  # … then the ingest fails before commit

    monkeypatch.setattr(ingest, "_upsert_observations", fail_after_devices)
    doc = report_doc(world.agent_id)
    r = _post(client, world, doc)
    assert r.status_code == 500 and r.json()["error"]["reason"] == "internal_error"
    assert (_count(engine, Report), _count(engine, Device), _count(engine, Observation)) == (0, 0, 0)
    monkeypatch.setattr(ingest, "_upsert_observations", real)
    assert _post(client, world, doc).status_code == 201
    assert _count(engine, Observation) == 12


def test_the_agent_hint_is_kept_as_an_identification(client, world, engine):
    doc = report_doc(world.agent_id, devices=1)
    doc["devices"][0]["identification"] = {
        "vendor_id": "hikvision", "vendor": "Hikvision", "country": "CN", "owner_country": "CN", "flagged": True,
        "confidence": 0.9,
    }
    assert _post(client, world, doc).status_code == 201
    r = client.get("/api/v1/devices", headers=world.analyst_headers()).json()
    assert r["items"][0]["vendor_id"] == "hikvision" and r["items"][0]["flagged"] is True


def test_bulk_tables_point_only_at_stored_devices_and_reports(client, world, engine):
    # Sightings and observations have no foreign keys (bulk-load speed); ingest must keep them consistent itself.
    from sqlalchemy import text

    _post(client, world, report_doc(world.agent_id, devices=20))
    _post(client, world, report_doc(world.agent_id, devices=30, observations=5))
    with engine.connect() as c:
        orphans = c.execute(text(
            "SELECT (SELECT count(*) FROM observation o LEFT JOIN device d ON d.id = o.device_id WHERE d.id IS NULL)"
            " + (SELECT count(*) FROM observation o LEFT JOIN report r ON r.id = o.first_report_id WHERE r.id IS NULL)"
            " + (SELECT count(*) FROM sighting s LEFT JOIN device d ON d.id = s.device_id WHERE d.id IS NULL)"
            " + (SELECT count(*) FROM sighting s LEFT JOIN report r ON r.id = s.report_id WHERE r.id IS NULL)"
        )).scalar_one()
        counts = c.execute(text("SELECT (SELECT count(*) FROM observation), (SELECT count(*) FROM sighting)")).one()
    assert orphans == 0
    assert tuple(counts) == (20 * 4 + 10 * 5 + 20 * 1, 50)  # 20 devices seen again gain one new observation kind


def test_observations_dated_in_the_future_are_refused(client, world, engine):
    from datetime import UTC, datetime, timedelta

    doc = report_doc(world.agent_id)
    doc["devices"][1]["observations"][0]["seen_at"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = _post(client, world, doc)
    assert r.status_code == 422 and r.json()["error"]["reason"] == "invalid_report"
    assert "future" in r.json()["error"]["message"] and _count(engine, Report) == 0
