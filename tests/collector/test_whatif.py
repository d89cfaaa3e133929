"""What-if (issue 12 item 3): a proposed country list against the stored inventory. Verdicts are made by the real
engine (re-attribution); the what-if must predict exactly the flags a re-attribution under the proposed list would
give, leave the official view as it was, and refuse lists it cannot evaluate."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlmodel import Session

import fingerprints
from collector import admin, attribution, whatif
from collector.models import AuditLog, Device, Identification, IdentificationChange
from fingerprints.policy import Policy, default_policy
from tests.conftest import World, make_world


def _obs(kind: str, value: str, seen: datetime, port: int | None = None) -> dict[str, Any]:
    return {"kind": kind, "value": value, "port": port, "proto": "tcp" if port else "l2", "source": "probe",
            "seen_at": seen.isoformat()}


NOW = datetime.now(UTC).replace(microsecond=0)
IN_2020 = datetime(2020, 6, 1, tzinfo=UTC)


def _device(mac: str, ip: str, *observations: tuple[str, str]) -> dict[str, Any]:
    return {"mac": mac, "ips": [ip], "observations": [_obs("mac", mac, NOW)] + [
        _obs(kind, value, NOW, 80) for kind, value in observations]}


#: One device per way a verdict can go; the comment says what the engine makes of it (checked in the tests).
DEVICES = {
    "camera": _device("44:19:b6:00:00:01", "198.18.0.21", ("http.server", "App-webs/"),
                      ("tls.subject", "CN=IPC,O=Hikvision,C=CN")),  # Hikvision: CN headquarters and owner
    "plc": _device("28:63:36:00:00:02", "198.18.0.22", ("upnp.manufacturer", "Siemens AG"), ("http.server", "nginx"),
                   ("ssh.banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6")),  # DE, software from US/CA/GB
    "recorder": _device("02:00:00:00:00:03", "198.18.0.23", ("upnp.manufacturer", "Lorex Technology Inc.")),
    # Lorex: CA headquarters, TW owner today, hardware made by Dahua (CN)
    "recorder-2020": _device("02:00:00:00:00:04", "198.18.0.24", ("upnp.manufacturer", "Lorex Technology Inc.")),
    # the same, last seen (the fixture says) when Dahua owned Lorex
    "server": _device("02:00:00:00:00:05", "198.18.0.25", ("host.hardware", "Dell Inc. PowerEdge R640"),
                      ("host.package", "kaspersky-endpoint-security 11.0")),  # Dell (US) running Kaspersky (RU)
    "router": _device("02:00:00:00:00:06", "198.18.0.26", ("upnp.manufacturer", "GL.iNet")),  # GL.iNet: HK
    "nvr": _device("02:00:00:00:00:07", "198.18.0.27", ("upnp.manufacturer", "VIVOTEK INC.")),  # VIVOTEK: TW
    "mystery": _device("02:00:00:00:00:08", "198.18.0.28", ("http.title", "Welcome")),  # nobody named
}


def _report(agent_id: str, devices: list[dict[str, Any]]) -> dict[str, Any]:
    now = NOW.isoformat()
    return {"schema": "herkomst.report/1", "report_id": str(uuid.uuid4()),
            "agent": {"id": agent_id, "version": "test"},
            "scan": {"scope": ["198.18.0.0/23"], "profile": "safe", "started_at": now, "finished_at": now,
                     "packets_sent": 10, "max_packet_rate": 5},
            "devices": devices}


@pytest.fixture
def inventory(client, engine, world: World) -> dict[str, int]:
    """DEVICES at a water board, the camera and the PLC once more at a hospital; attributed by the real engine.
    Device ids by name (the water board's)."""
    r = client.post("/api/v1/reports", json=_report(world.agent_id, list(DEVICES.values())),
                    headers=world.agent_headers())
    assert r.status_code == 201, r.text
    hospital = make_world(engine, name="Ziekenhuis Testland", sector="zorg")
    r = client.post("/api/v1/reports", json=_report(hospital.agent_id, [DEVICES["camera"], DEVICES["plc"]]),
                    headers=hospital.agent_headers())
    assert r.status_code == 201, r.text
    by_mac = {d["mac"]: name for name, d in DEVICES.items()}
    with Session(engine) as s:
        ids = {by_mac[d.mac]: d.id for d in s.execute(select(Device).where(
            Device.organisation_id == world.organisation_id)).scalars()}
        s.get(Device, ids["recorder-2020"]).last_seen = IN_2020  # as test_attribution dates a device
        s.commit()
    attribution.reattribute(engine)
    return ids


#: the engine itself, before any test replaces it
_IDENTIFY = fingerprints.identify


def _policy(countries: list[str], version: str = "test") -> Policy:
    return Policy(version=version, countries=countries)


def _evaluate(engine, countries: list[str], **kw: Any) -> Any:
    with Session(engine) as s:
        result, _next = whatif.evaluate(s, proposal=whatif.proposed_policy(countries), **kw)
    return result


def _flags(engine) -> dict[int, bool]:
    with Session(engine) as s:
        return {r.device_id: r.flagged for r in s.execute(select(Identification)).scalars()}


def _reattribute_under(engine, monkeypatch, forced: Policy) -> None:
    """Re-attribute every device with the real engine under `policy`, as a policy change would."""
    # whatever policy attribution would pass: this one
    monkeypatch.setattr(fingerprints, "identify",
                        lambda obs, policy=None, when=None: _IDENTIFY(obs, policy=forced, when=when))
    monkeypatch.setattr(attribution, "current_versions", lambda *_a, **_k: ("test-cat", forced.version))
    attribution.reattribute(engine)


def test_the_engine_gives_the_verdicts_the_tests_rely_on(inventory, engine):
    with Session(engine) as s:
        rows = {r.device_id: r for r in s.execute(select(Identification)).scalars()}
    got = {name: (rows[i].vendor_id, rows[i].country, rows[i].owner_country, rows[i].flagged, rows[i].flag_vendors)
           for name, i in inventory.items()}
    assert got["camera"] == ("hikvision", "CN", "CN", True, "")
    assert got["plc"] == ("siemens", "DE", "DE", False, "os:canonical software:nginx software:openbsd")
    assert got["recorder"] == ("lorex", "CA", "TW", True, "maker:dahua")
    assert got["recorder-2020"] == ("lorex", "CA", "CN", True, "maker:dahua")
    assert got["server"] == ("dell", "US", "US", True, "software:kaspersky")
    assert got["router"][:4] == ("gl-inet", "HK", "HK", False)
    assert got["nvr"][:4] == ("vivotek", "TW", "TW", False)
    assert got["mystery"][0] is None and not got["mystery"][3]


def test_the_policy_list_itself_changes_no_device(inventory, engine):
    official = default_policy()
    result = _evaluate(engine, list(official.countries))
    assert result.would_be_flagged == result.would_no_longer_be_flagged == 0 and result.changes == []
    assert result.added == result.removed == []
    assert all(c.flagged == c.flagged_whatif for c in result.cells)
    # device by device too: the what-if's verdict is the stored one
    with Session(engine) as s:
        for row in s.execute(select(Identification, Device.last_seen).join(Device)).all():
            ident, last_seen = row
            found = whatif.origins(ident.country, ident.owner_country, ident.flag_vendors,
                                   whatif.judged_on(last_seen, ident.computed_at))
            assert whatif.flags(found, official) == ident.flagged, ident.vendor_id


@pytest.mark.parametrize("official, proposed", [
    (["CN", "RU", "IR", "KP"], ["CN", "RU", "IR", "KP", "HK"]),
    (["CN", "RU", "IR", "KP"], ["TW"]),
    (["DE", "HK"], ["CN", "RU", "IR", "KP"]),
    (["GB", "RU"], ["US", "CA"]),
])
def test_the_what_if_predicts_what_re_attribution_under_the_proposal_gives(inventory, engine, monkeypatch,
                                                                             official, proposed):
    """Stored verdicts under one list; the what-if of another; then re-attribution under that other: the devices the
    what-if said would change are exactly those that did, and its counts are the new official counts."""
    _reattribute_under(engine, monkeypatch, _policy(official, "official"))
    before = _flags(engine)
    with Session(engine) as s:
        result, nxt = whatif.evaluate(s, proposal=whatif.proposed_policy(proposed), official=_policy(official),
                                      limit=1000)
    assert nxt is None
    predicted = {c.device_id: c.flagged_whatif for c in result.changes}
    _reattribute_under(engine, monkeypatch, _policy(proposed, "proposed"))
    after = _flags(engine)
    assert predicted == {d: f for d, f in after.items() if f != before[d]}
    assert predicted, "each pair of lists here changes some device"
    assert result.total_flagged == sum(before.values()) and result.total_flagged_whatif == sum(after.values())
    assert result.would_be_flagged == sum(predicted.values())
    assert result.would_no_longer_be_flagged == len(predicted) - sum(predicted.values())


def test_adding_a_country_flags_its_devices_and_says_why(inventory, engine):
    result = _evaluate(engine, ["CN", "RU", "IR", "KP", "HK", "TW"])
    changed = {c.device_id: c for c in result.changes}
    # GL.iNet (HK), VIVOTEK (TW); Lorex is flagged already (its maker is Dahua)
    assert set(changed) == {inventory["router"], inventory["nvr"]}
    router = changed[inventory["router"]]
    assert router.change == "would_be_flagged" and router.flagged is False and router.flagged_whatif is True
    assert {(o.dimension, o.country, o.on_policy, o.on_proposal) for o in router.origins} == {
        ("headquarters", "HK", False, True), ("owner", "HK", False, True)}
    assert result.added == ["HK", "TW"] and result.removed == []
    assert result.would_be_flagged == 2 and result.would_no_longer_be_flagged == 0
    cells = {(c.sector, c.country): c for c in result.cells}
    assert (cells["water", "HK"].devices, cells["water", "HK"].flagged, cells["water", "HK"].flagged_whatif) == (
        1, 0, 1)
    assert cells["water", "DE"].flagged_whatif == 0  # the PLC's software makers are in the US, CA and GB


def test_removing_a_country_and_the_day_a_device_was_seen(inventory, engine):
    # Without China: the camera and today's Lorex (Dahua-made, owned in Taiwan) drop; the 2020 Lorex was owned by
    # Dahua then, which is still China: drops too; the Kaspersky server stays (RU).
    result = _evaluate(engine, ["RU", "IR", "KP"])
    gone = {c.device_id for c in result.changes if c.change == "would_no_longer_be_flagged"}
    assert gone & set(inventory.values()) == {inventory["camera"], inventory["recorder"], inventory["recorder-2020"]}
    assert len(gone) == result.would_no_longer_be_flagged == 4  # the hospital's camera too
    # Taiwan alone: today's Lorex is owned there, the 2020 one was not
    taiwan = _evaluate(engine, ["TW"])
    assert {c.device_id for c in taiwan.changes if c.flagged_whatif} == {inventory["nvr"]}
    still = {c.device_id for c in taiwan.changes if not c.flagged_whatif}
    assert inventory["recorder"] not in still and inventory["recorder-2020"] in still


def test_counts_match_the_official_summary_and_a_sector_filter(client, inventory, engine, world: World):
    summary = client.get("/api/v1/summary", headers=world.analyst_headers()).json()
    result = _evaluate(engine, ["CN", "RU", "IR", "KP", "HK"])
    assert sorted((c.sector, c.country or "", c.devices, c.flagged) for c in result.cells) == sorted(
        (c["sector"], c["country"] or "", c["devices"], c["flagged"]) for c in summary["cells"])
    assert result.total_devices == summary["total_devices"] == len(DEVICES) + 2
    assert result.total_flagged == summary["total_flagged"]
    zorg = _evaluate(engine, ["HK"], sector="zorg")
    assert {c.sector for c in zorg.cells} == {"zorg"} and zorg.total_devices == 2
    assert zorg.would_no_longer_be_flagged == 1 and zorg.changes[0].sector == "zorg"


def _official_view(client, engine, world: World) -> Any:
    with Session(engine) as s:
        idents = sorted(r.model_dump_json() for r in s.execute(select(Identification)).scalars())
        changes = sorted(r.model_dump_json() for r in s.execute(select(IdentificationChange)).scalars())
    summary = client.get("/api/v1/summary", headers=world.analyst_headers()).json()
    summary.pop("computed_at")
    flagged = client.get("/api/v1/devices", params={"flagged": "true"}, headers=world.analyst_headers()).json()
    return idents, changes, summary, flagged


def test_the_what_if_changes_nothing_in_the_official_view_and_is_audited(client, inventory, engine, world: World):
    before = _official_view(client, engine, world)
    assert before[0] and before[1]
    r = client.post("/api/v1/whatif", json={"countries": ["HK", "TW", "BY"]}, headers=world.analyst_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    # GL.iNet and VIVOTEK would be; both cameras, the Kaspersky server and the 2020 Lorex (Dahua's then) would not
    assert body["would_be_flagged"] == 2 and body["would_no_longer_be_flagged"] == 4
    assert body["policy_version"] == default_policy().version
    assert _official_view(client, engine, world) == before
    with Session(engine) as s:
        audit = s.execute(select(AuditLog).where(AuditLog.route == "/api/v1/whatif")).scalars().all()
    assert [(a.method, a.rows, a.status) for a in audit] == [("POST", 6, 200)]


def test_pages_of_changed_devices_follow_the_cursor_of_their_own_list(client, inventory, world: World):
    h = world.analyst_headers()
    proposal = {"countries": ["HK", "TW"], "limit": 3}
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        r = client.post("/api/v1/whatif", json={**proposal, "cursor": cursor} if cursor else proposal, headers=h)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [c["device_id"] for c in page["changes"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = client.post("/api/v1/whatif", json={**proposal, "limit": 100}, headers=h).json()
    assert seen == [c["device_id"] for c in everything["changes"]] and len(seen) == 6 and seen == sorted(seen)
    first = client.post("/api/v1/whatif", json=proposal, headers=h).json()
    other = client.post("/api/v1/whatif", json={"countries": ["HK"], "cursor": first["next_cursor"]}, headers=h)
    assert other.status_code == 400 and other.json()["error"]["reason"] == "invalid_cursor"


@pytest.mark.parametrize("body, reason", [
    ({"countries": []}, "empty_country_list"),
    ({"countries": ["CN", "XX"]}, "unknown_country"),
    ({"countries": ["cn"]}, "unknown_country"),
    ({"countries": ["China"]}, "unknown_country"),
    ({"countries": ["CN", "RU", "CN"]}, "duplicate_country"),
    ({"countries": ["CN"], "sector": "nope"}, "unknown_sector"),
    ({"countries": ["CN"], "limit": 100_000}, "page_too_large"),
    ({"countries": ["CN"], "colour": "red"}, "invalid_request"),
    ({"countries": "CN"}, "invalid_request"),
    ({}, "invalid_request"),
])
def test_a_list_that_cannot_be_evaluated_is_refused_with_a_reason(client, world: World, body, reason):
    r = client.post("/api/v1/whatif", json=body, headers=world.analyst_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["reason"] == reason


def test_only_analysts_and_admins_may_ask(client, engine, world: World):
    body = {"countries": ["CN"]}
    assert client.post("/api/v1/whatif", json=body).status_code == 401
    agent = client.post("/api/v1/whatif", json=body, headers=world.agent_headers())
    assert agent.status_code == 403 and agent.json()["error"]["reason"] == "wrong_credential_kind"
    with Session(engine) as s:
        _row, token = admin.create_api_token(s, name="prometheus", role="metrics")
        s.commit()
    assert client.post("/api/v1/whatif", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert client.post("/api/v1/whatif", json=body, headers=world.admin_headers()).status_code == 200
    assert client.post("/api/v1/whatif", json=body, headers=world.analyst_headers()).status_code == 200


def test_verdicts_stored_without_flag_vendors_are_read_from_their_detail(inventory, engine):
    proposals = (["CN", "RU", "IR", "KP", "HK", "TW"], ["RU", "IR", "KP"], ["TW"], ["GB"])
    fast = [_evaluate(engine, p).model_dump(exclude={"computed_at"}) for p in proposals]
    with engine.begin() as conn:
        conn.execute(text("UPDATE identification SET flag_vendors = NULL"))
    slow = [_evaluate(engine, p).model_dump(exclude={"computed_at"}) for p in proposals]
    assert slow == fast
    assert fast[3]["would_be_flagged"] == 2  # Canonical (GB) makes both PLCs' operating system


def test_flag_vendors_and_origins_follow_the_engine_rules():
    detail = {"oem_makers": ["dahua"], "components": [
        {"role": "software", "vendor_id": "kaspersky", "country": "RU"},
        {"role": "software", "vendor_id": None, "country": "CN"},
        {"role": "nic", "vendor_id": "intel", "country": "US"},  # a component is shown, never flagged
        {"role": "radio-module", "vendor_id": "espressif", "country": "CN"}]}
    assert whatif.flag_vendors("Lorex", "lorex", detail) == "maker:dahua software:@CN software:kaspersky"
    assert whatif.flag_vendors(None, None, detail) == ""  # no vendor named: never flagged
    # a maker's owner is the one of the day the device was judged
    found = {(o.dimension, o.country) for o in whatif.origins("NL", None, "maker:lorex", date(2020, 6, 1))}
    assert found == {("headquarters", "NL"), ("maker", "CA"), ("maker", "CN")}
    found = {(o.dimension, o.country) for o in whatif.origins("NL", None, "maker:lorex", date(2024, 6, 1))}
    assert found == {("headquarters", "NL"), ("maker", "CA"), ("maker", "TW")}
    assert whatif.judged_on(datetime(2020, 6, 1, 23, tzinfo=UTC), "2026-01-01 00:00:00") == date(2020, 6, 1)


def test_the_command_line_evaluates_a_list(inventory, engine, monkeypatch):
    from typer.testing import CliRunner

    from collector import cli

    monkeypatch.setattr(cli, "_engine", lambda: engine)
    runner = CliRunner()
    r = runner.invoke(cli.app, ["whatif", "--countries", "cn,ru,ir,kp,hk", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["added"] == ["HK"] and out["would_be_flagged"] == 1
    assert [c["device_id"] for c in out["changes"]] == [inventory["router"]]
    table = runner.invoke(cli.app, ["whatif", "--countries", "HK", "--sector", "water"])
    assert table.exit_code == 0, table.output
    assert "would no longer be flagged" in table.output and "GL.iNet" in table.output
    bad = runner.invoke(cli.app, ["whatif", "--countries", "CN,XX"])
    assert bad.exit_code == 2 and "XX" in bad.output


def test_the_web_view_shows_the_form_and_the_result(client, inventory, world: World):
    h = world.analyst_headers()
    form = client.get("/ui/whatif", headers=h)
    assert form.status_code == 200 and 'name="countries"' in form.text and "CN RU IR KP" in form.text
    page = client.get("/ui/whatif", params={"countries": "CN, RU, IR, KP, HK"}, headers=h)
    assert page.status_code == 200, page.text
    assert "GL.iNet" in page.text and "would be flagged" in page.text and "Hikvision" not in page.text
    bad = client.get("/ui/whatif", params={"countries": "CN XX"}, headers=h)
    assert bad.status_code == 422 and "XX" in bad.text
    assert client.get("/ui/whatif", follow_redirects=False).status_code == 303
    assert 'href="/ui/whatif"' in client.get("/ui/devices", headers=h).text


def test_the_migration_fills_in_verdicts_stored_before_it(tmp_path):
    from collector.db import make_engine
    from collector.migrate import upgrade

    eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(eng, "0003")
    t = "2026-12-01 00:00:00.000000"
    detail = {"oem_makers": ["dahua"], "components": [{"role": "os", "vendor_id": "canonical", "country": "GB"}]}
    with eng.begin() as conn:
        conn.execute(text(f"INSERT INTO organisation (id, name, sector, created_at) VALUES (1, 'o', 'water', '{t}')"))
        conn.execute(text(f"INSERT INTO site (id, organisation_id, name, created_at) VALUES (1, 1, 's', '{t}')"))
        for n in (1, 2):
            conn.execute(text(
                "INSERT INTO device (id, organisation_id, site_id, identity_key, is_agent_host, first_seen, last_seen, "
                f"first_report_id, last_report_id) VALUES ({n}, 1, 1, 'mac:{n}', 0, '{t}', '{t}', 1, 1)"))
        conn.execute(text(
            "INSERT INTO identification (device_id, origin, vendor_id, vendor, flagged, confidence, detail, "
            "computed_at) VALUES (1, 'collector', 'lorex', 'Lorex', 1, 0.9, :detail, :t), "
            "(2, 'collector', NULL, NULL, 0, 0, :detail, :t)"), {"detail": json.dumps(detail), "t": t})
    upgrade(eng)
    with eng.connect() as conn:
        got = dict(conn.execute(text("SELECT device_id, flag_vendors FROM identification")).all())
    eng.dispose()
    assert got == {1: "maker:dahua os:canonical", 2: ""}


def test_a_maker_whose_owner_changed_country_is_judged_on_the_day_each_device_was(inventory, engine):
    """Lorex was Dahua's (CN) from 2018 to 2023 and is Skywatch's (TW) since: as the maker behind two devices, one
    last seen in 2020 and one in 2024, it answers to China for the first and Taiwan for the second."""
    plc, router = inventory["plc"], inventory["router"]
    with Session(engine) as s:
        s.get(Device, plc).last_seen = datetime(2020, 6, 1, tzinfo=UTC)
        s.get(Device, router).last_seen = datetime(2024, 6, 1, tzinfo=UTC)
        s.commit()
    with engine.begin() as conn:
        conn.execute(text("UPDATE identification SET flag_vendors = 'maker:lorex' WHERE device_id IN (:a, :b)"),
                     {"a": plc, "b": router})
    assert whatif.dated("maker:lorex") and not whatif.dated("maker:dahua software:nginx")
    taiwan = {c.device_id for c in _evaluate(engine, ["TW"]).changes if c.flagged_whatif}
    china = {c.device_id for c in _evaluate(engine, ["CN"]).changes if c.flagged_whatif}
    assert router in taiwan and plc not in taiwan
    assert plc in china and router not in china
    assert _evaluate(engine, ["CN"]).would_be_flagged == len(china)


def test_the_official_view_is_the_policy_in_force(client, inventory, engine, world: World):
    """Once an admin stores a policy (here: the shipped list plus Hong Kong) and re-attribution has judged by it,
    the what-if compares with that policy, not the shipped file."""
    from collector.policy import set_policy, shipped

    listed = [*shipped().countries, "HK"]
    with Session(engine) as s:
        set_policy(s, {**shipped().model_dump(mode="json"), "version": "test-hk", "countries": listed},
                   set_by="test", valid_from=datetime(2020, 1, 1, tzinfo=UTC))
        s.commit()
    attribution.reattribute(engine)
    assert _flags(engine)[inventory["router"]] is True
    same = client.post("/api/v1/whatif", json={"countries": listed}, headers=world.analyst_headers()).json()
    assert same["policy_version"] == "test-hk" and same["changes"] == [] and same["added"] == []
    shipped_list = _evaluate(engine, list(shipped().countries))
    assert shipped_list.removed == ["HK"]
    assert [(c.device_id, c.change) for c in shipped_list.changes] == [(inventory["router"],
                                                                         "would_no_longer_be_flagged")]
