"""Benchmark: the analyst API and re-attribution at national scale.

Generates 1,000,000 devices with 8,000,000 observations across 500 organisations on PostgreSQL (server-side, with
generate_series), then measures p50/p95 of the filtered device list, device detail and the summary through the real
app (in-process, HTTP included); a monthly inventory report for all sectors (when the inventory module is present);
and re-attribution of 100,000 devices on PostgreSQL and on SQLite. Prints peak memory.

    .venv/bin/python -m bench.bench_analyst [--devices 1000000] [--reattribute 100000] [--keep]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.scratch import DEFAULT_PG, scratch_database
from collector import admin
from collector.app import create_app
from collector.attribution import attribute
from collector.db import make_engine
from collector.migrate import upgrade
from collector.settings import Settings
from fingerprints.catalogue import catalogue
from fingerprints.policy import default_policy

KINDS = ["mac", "http.server", "http.title", "ssh.banner", "snmp.sysdescr", "snmp.sysobjectid", "tls.subject",
         "upnp.manufacturer"]
VALUES = {
    "http.server": ["App-webs/", "Apache", "nginx", "lighttpd/1.4.59", "Boa/0.94.14rc21", "GoAhead-Webs"],
    "http.title": ["Web Client", "Login", "SIMATIC S7-1200", "FortiGate", "Huawei Web"],
    "ssh.banner": ["SSH-2.0-OpenSSH_8.9p1", "SSH-2.0-HUAWEI-1.5", "SSH-2.0-Cisco-1.25", "SSH-2.0-dropbear_2019.78"],
    "snmp.sysdescr": ["Huawei Versatile Routing Platform Software VRP (R) software, Version 5.170",
                      "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E4",
                      "Siemens, SIMATIC NET, SCALANCE X204-2", "ZXR10 ROS Version V4.08.23 ZTE Corporation"],
    "snmp.sysobjectid": ["1.3.6.1.4.1.2011.2.23.601", "1.3.6.1.4.1.9.1.1208", "1.3.6.1.4.1.3902.3.100"],
    "tls.subject": ["CN=IPC,O=Hikvision,C=CN", "CN=FortiGate,O=Fortinet", "CN=iDRAC,O=Dell Inc."],
    "upnp.manufacturer": ["Dahua", "TP-Link", "Hikvision", "Axis"],
    "mac": ["44:19:b6:00:00:00", "00:e0:fc:00:00:00", "28:63:36:00:00:00", "00:1b:0d:00:00:00"],
}


def _timed(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def _vendor_mix() -> list[dict[str, Any]]:
    """A realistic mix: the catalogue's vendors with their countries and the policy's verdict."""
    policy = default_policy()
    out = []
    for v in catalogue().vendors.values():
        owner = v.owners[-1].country if v.owners else v.hq.country
        out.append({"id": v.id, "name": v.short, "category": v.categories[0] if v.categories else None,
                    "country": v.hq.country, "owner": owner,
                    "flagged": v.hq.country in policy.countries or owner in policy.countries})
    random.Random(1).shuffle(out)
    return out[:120]


def populate_pg(engine: Engine, devices: int) -> None:
    """1 site, 1 agent and 1 report per organisation; `devices` devices with 8 observations and a verdict each."""
    orgs = 500
    sectors = ["energie", "drinkwater", "water", "telecom-ict", "transport", "chemie", "nucleair", "financieel",
               "openbare-orde-veiligheid", "defensie", "openbaar-bestuur", "zorg"]
    mix = _vendor_mix()
    values_sql = ", ".join(
        f"({n}, '{m['id']}', '{m['name'].replace(chr(39), '')}', "
        f"{'NULL' if m['category'] is None else repr(m['category'])}, '{m['country']}', '{m['owner']}', "
        f"{'true' if m['flagged'] else 'false'})"
        for n, m in enumerate(mix)
    )
    kinds = "ARRAY[" + ",".join(f"'{k}'" for k in KINDS) + "]"
    stmts = [
        f"INSERT INTO organisation (id, name, sector, created_at) SELECT g, 'Organisatie ' || g, "
        f"(ARRAY[{','.join(repr(s) for s in sectors)}])[1 + g % {len(sectors)}], now() "
        f"FROM generate_series(1, {orgs}) g",
        f"INSERT INTO site (id, organisation_id, name, created_at) SELECT g, g, 'main', now() "
        f"FROM generate_series(1, {orgs}) g",
        "INSERT INTO agent (id, lookup, secret_hash, organisation_id, site_id, hostname, version, created_at) "
        f"SELECT md5(g::text)::uuid::text, substr(md5('l' || g), 1, 16), md5(g::text) || md5(g::text), g, g, 'a', "
        f"'bench', now() FROM generate_series(1, {orgs}) g",
        "INSERT INTO report (id, report_id, agent_id, organisation_id, site_id, received_at, content_sha256, raw_gzip, "
        "raw_size, profile, scan_started_at, scan_finished_at, device_count, observation_count, receipt) "
        f"SELECT g, md5('r' || g)::uuid::text, md5(g::text)::uuid::text, g, g, now(), md5(g::text) || md5(g::text), "
        f"'\\x00', 1, 'safe', now(), now(), 0, 0, '{{}}' FROM generate_series(1, {orgs}) g",
        "INSERT INTO device (id, organisation_id, site_id, identity_key, mac, ip, is_agent_host, first_seen, "
        "last_seen, first_report_id, last_report_id) "
        "SELECT g, 1 + (g - 1) % 500, 1 + (g - 1) % 500, 'mac:' || g, NULL, "
        "'198.18.' || ((g / 250) % 256) || '.' || (g % 250), false, now() - (g % 400) * interval '1 day', "
        "now() - (g % 60) * interval '1 day', 1 + (g - 1) % 500, 1 + (g - 1) % 500 "
        f"FROM generate_series(1, {devices}) g",
        "INSERT INTO sighting (device_id, report_id, seen_at, ip) SELECT g, 1 + (g - 1) % 500, now(), NULL "
        f"FROM generate_series(1, {devices}) g",
        "INSERT INTO observation (device_id, obs_key, kind, value, port, proto, source, first_seen, last_seen, "
        f"first_report_id, last_report_id, times_seen) SELECT d, k, ({kinds})[k], "
        "'value ' || k || ' ' || (d % 997), 80, 'tcp', 'bench', now(), now(), 1, 1, 1 "
        f"FROM generate_series(1, {devices}) d, generate_series(1, 8) k",
        f"WITH mix(n, vendor_id, vendor, category, country, owner, flagged) AS (VALUES {values_sql}) "
        "INSERT INTO identification (device_id, origin, vendor_id, vendor, category, country, owner_country, flagged, "
        "confidence, detail, catalogue_version, policy_version, computed_at) "
        "SELECT g, 'collector', m.vendor_id, m.vendor, m.category, m.country, m.owner, m.flagged, 0.9, "
        "'{\"evidence\": [], \"flag_reasons\": []}', 'bench', 'bench', now() "
        # hashtext decorrelates a device's vendor from its organisation and last-seen day (both follow g)
        f"FROM generate_series(1, {devices}) g JOIN mix m ON m.n = abs(hashtext(g::text)) % {len(mix)}",
    ]
    with engine.begin() as conn:
        raw = conn.connection.driver_connection  # no parameters: psycopg sends the SQL as it is (modulo included)
        for i, stmt in enumerate(stmts, 1):
            t0 = time.perf_counter()
            raw.execute(stmt)  # type: ignore[union-attr]
            print(f"  populate step {i}/{len(stmts)}: {time.perf_counter() - t0:.1f} s", flush=True)
        for table in ("organisation", "site", "report", "device", "observation", "sighting", "identification"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT coalesce(max(id), 1) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def measure_api(engine: Engine, devices: int, n: int) -> None:
    settings = Settings(migrate_on_start=False, reattribute_on_start=False, attribute_on_ingest=False)
    with Session(engine) as s:
        _row, token = admin.create_api_token(s, name="bench", role="analyst")
        s.commit()
    client = TestClient(create_app(settings, engine=engine))
    h = {"Authorization": f"Bearer {token}"}
    rnd = random.Random(7)
    filters = [{"flagged": "true"}, {"country": "CN"}, {"sector": "water"}, {"sector": "energie", "flagged": "true"},
               {"owner_country": "RU"}, {"category": "cctv"}, {"organisation_id": "17"}, {}]

    def device_list() -> None:
        r = client.get("/api/v1/devices", params={**rnd.choice(filters), "limit": 100}, headers=h)
        assert r.status_code == 200, r.text

    def detail() -> None:
        r = client.get(f"/api/v1/devices/{rnd.randint(1, devices)}", headers=h)
        assert r.status_code == 200, r.text

    def summary() -> None:
        r = client.get("/api/v1/summary", params=rnd.choice([{}, {"flagged": "true"}, {"sector": "zorg"}]), headers=h)
        assert r.status_code == 200, r.text

    cold = []
    for params in ({}, {"flagged": "true"}, {"sector": "zorg"}):
        t0 = time.perf_counter()
        assert client.get("/api/v1/summary", params=params, headers=h).status_code == 200
        cold.append((time.perf_counter() - t0) * 1000)
    print(f"  summary, first call per filter (counted in the database): {', '.join(f'{c:.0f}' for c in cold)} ms")
    for name, fn in (("filtered device list", device_list), ("device detail", detail),
                     ("summary (then from memory)", summary)):
        fn()  # warm
        p50, p95 = _timed(fn, n)
        print(f"  {name:26} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (target p95 ≤ 150 ms)")


def measure_reattribution(engine: Engine, count: int, name: str) -> None:
    t0 = time.perf_counter()
    done = 0
    while done < count:
        ids = list(range(done + 1, min(done + 1000, count) + 1))
        with Session(engine) as s:
            attribute(s, device_ids=ids)
            s.commit()
        done += len(ids)
    elapsed = time.perf_counter() - t0
    print(f"  re-attribution of {count:,} devices on {name}: {elapsed:.1f} s ({count / elapsed:,.0f} devices/s; "
          "target ≤ 60 s)")


def populate_sqlite(engine: Engine, devices: int) -> None:
    """The same shape on SQLite, through the ORM-free path of a recursive series."""
    from datetime import timedelta

    with Session(engine, expire_on_commit=False) as s:
        org = admin.create_organisation(s, name="bench", sector="water")
        assert org.id is not None
        _t, token = admin.create_enrollment_token(s, organisation_id=org.id, site="main",
                                                  expires_in=timedelta(hours=1), max_uses=1)
        agent, _key = admin.enroll_agent(s, token=token, hostname="bench", version="bench")
        s.commit()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO report (id, report_id, agent_id, organisation_id, site_id, received_at, content_sha256, "
            "raw_gzip, raw_size, profile, scan_started_at, scan_finished_at, device_count, observation_count, receipt) "
            "VALUES (1, 'r', ?, ?, ?, '2026-11-30 00:00:00.000000', 'x', x'00', 1, 'safe', "
            "'2026-11-30 00:00:00.000000', '2026-11-30 00:00:00.000000', 0, 0, '{}')",
            (agent.id, org.id, agent.site_id),
        )
        conn.exec_driver_sql(
            f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {devices}) "
            "INSERT INTO device (id, organisation_id, site_id, identity_key, is_agent_host, first_seen, last_seen, "
            f"first_report_id, last_report_id) SELECT n, {org.id}, {agent.site_id}, 'mac:' || n, 0, "
            "'2026-11-01 00:00:00.000000', '2026-11-30 00:00:00.000000', 1, 1 FROM g"
        )
        kinds = ", ".join(f"('{k}', {i})" for i, k in enumerate(KINDS))
        conn.exec_driver_sql(
            f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {devices}), "
            f"k(kind, i) AS (VALUES {kinds}) "
            "INSERT INTO observation (device_id, obs_key, kind, value, port, proto, source, first_seen, last_seen, "
            "first_report_id, last_report_id, times_seen) SELECT n, k.i, k.kind, "
            "'value ' || k.i || ' ' || (n % 997), 80, 'tcp', 'bench', '2026-11-30 00:00:00.000000', "
            "'2026-11-30 00:00:00.000000', 1, 1, 1 FROM g, k"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--reattribute", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--keep", action="store_true", help="keep the generated PostgreSQL database")
    args = parser.parse_args()
    with scratch_database("herkomst_bench_analyst", args.pg, keep=args.keep) as engine:
        print(f"PostgreSQL: generating {args.devices:,} devices, {8 * args.devices:,} observations, 500 organisations")
        t0 = time.perf_counter()
        populate_pg(engine, args.devices)
        print(f"  generated in {time.perf_counter() - t0:.0f} s")
        measure_api(engine, args.devices, args.samples)
        try:
            from bench.bench_inventory import measure_monthly_report
        except ImportError:
            print("  monthly report: not measured (no inventory module)")
        else:
            measure_monthly_report(engine)
        measure_reattribution(engine, args.reattribute, "PostgreSQL")
    with tempfile.TemporaryDirectory() as tmp:
        lite = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(lite)
        populate_sqlite(lite, args.reattribute)
        measure_reattribution(lite, args.reattribute, "SQLite")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
