"""Benchmark: the what-if (issue 12 item 3) over 1,000,000 devices on PostgreSQL; target ≤ 5 s.

Verdicts are real: a few hundred device shapes (catalogue vendors named by UPnP, white-label brands, servers running
listed software, web and SSH banners that bring software and OS makers) are identified by the engine, and every
generated device gets one of them, detail included (~1 kB of JSON each, as attribution stores). Baselines measured
in the same run on the same tables: a plain count of the verdicts and the official summary query (GET /summary).
Also shown: what grouping by the JSON detail would cost instead of identification.flag_vendors.

    .venv/bin/python -m bench.bench_whatif [--devices 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

import fingerprints
from bench.scratch import DEFAULT_PG, scratch_database
from collector import admin, whatif
from collector.attribution import _category, _detail
from collector.models import Identification
from collector.queries import DeviceFilter, summary
from collector.settings import Settings
from fingerprints.catalogue import catalogue
from fingerprints.identification import Obs
from fingerprints.policy import default_policy

SECTORS = ["energie", "drinkwater", "water", "telecom-ict", "transport", "chemie", "nucleair", "financieel",
           "openbare-orde-veiligheid", "defensie", "openbaar-bestuur", "zorg"]
SOFTWARE = [("http.server", "nginx"), ("ssh.banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"),
            ("http.server", "Apache/2.4.57 (Debian)"), ("http.server", "lighttpd/1.4.59"),
            ("ssh.banner", "SSH-2.0-dropbear_2019.78")]
FIXED = [
    [("http.server", "App-webs/"), ("tls.subject", "CN=IPC,O=Hikvision,C=CN")],
    [("snmp.sysdescr", "Huawei Versatile Routing Platform Software VRP (R) software, Version 5.170")],
    [("upnp.manufacturer", "Lorex Technology Inc.")], [("upnp.manufacturer", "Amcrest")],
    [("host.hardware", "Dell Inc. PowerEdge R640"), ("host.package", "kaspersky-endpoint-security 11.0")],
    [("s7.vendor", "Siemens AG"), ("s7.module", "6ES7 215-1AG40-0XB0")],
    [("http.title", "Welcome")],
]


def templates(count: int) -> list[dict[str, Any]]:
    """`count` verdicts of the real engine on realistic evidence, as attribution stores them."""
    rnd = random.Random(5)
    vendors = sorted(catalogue().vendors.values(), key=lambda v: v.id)
    shapes = list(FIXED)
    while len(shapes) < count:
        v = rnd.choice(vendors)
        obs = [("upnp.manufacturer", v.aliases[0] if v.aliases else v.short)]
        obs += rnd.sample(SOFTWARE, rnd.choice([0, 0, 1, 2]))
        shapes.append(obs)
    out = []
    for obs in shapes:
        ident = fingerprints.identify([Obs(k, v) for k, v in obs])
        detail = _detail(ident)
        out.append({"vendor_id": ident.vendor_id, "vendor": ident.vendor[:255] if ident.vendor else None,
                    "product": ident.product[:255] if ident.product else None, "category": _category(ident),
                    "country": ident.country, "owner_country": ident.owner_country, "flagged": ident.flagged,
                    "confidence": ident.confidence, "detail": json.dumps(detail),
                    "flag_vendors": whatif.flag_vendors(ident.vendor, ident.vendor_id, detail)})
    return out


def populate(engine: Engine, devices: int, shapes: list[dict[str, Any]]) -> None:
    """500 organisations over the sectors; `devices` devices last seen over 60 days, each with one verdict."""
    orgs = 500
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE shape (n int primary key, vendor_id text, vendor text, product text, "
                          "category text, country text, owner_country text, flagged boolean, confidence float, "
                          "detail json, flag_vendors text)"))
        conn.execute(text("INSERT INTO shape VALUES (:n, :vendor_id, :vendor, :product, :category, :country, "
                          ":owner_country, :flagged, :confidence, CAST(:detail AS json), :flag_vendors)"),
                     [{"n": n, **s} for n, s in enumerate(shapes)])
        sectors = ",".join(f"'{s}'" for s in SECTORS)
        steps = [
            f"INSERT INTO organisation (id, name, sector, created_at) SELECT g, 'Organisatie ' || g, "
            f"(ARRAY[{sectors}])[1 + g % {len(SECTORS)}], now() FROM generate_series(1, {orgs}) g",
            f"INSERT INTO site (id, organisation_id, name, created_at) SELECT g, g, 'main', now() "
            f"FROM generate_series(1, {orgs}) g",
            "INSERT INTO device (id, organisation_id, site_id, identity_key, is_agent_host, first_seen, last_seen, "
            "first_report_id, last_report_id) SELECT g, 1 + (g - 1) % 500, 1 + (g - 1) % 500, 'mac:' || g, false, "
            "now() - (g % 400) * interval '1 day', now() - (g % 60) * interval '1 day', 1, 1 "
            f"FROM generate_series(1, {devices}) g",
            "INSERT INTO identification (device_id, origin, vendor_id, vendor, product, category, country, "
            "owner_country, flagged, confidence, detail, catalogue_version, policy_version, computed_at, flag_vendors) "
            "SELECT g, 'collector', s.vendor_id, s.vendor, s.product, s.category, s.country, s.owner_country, "
            f"s.flagged, s.confidence, s.detail, 'bench', '{default_policy().version}', now(), s.flag_vendors "
            # hashtext decorrelates a device's verdict from its organisation and day (both follow g)
            f"FROM generate_series(1, {devices}) g JOIN shape s ON s.n = abs(hashtext(g::text)) % {len(shapes)}",
        ]
        for n, step in enumerate(steps, 1):
            t0 = time.perf_counter()
            conn.execute(text(step))
            print(f"  populate step {n}/{len(steps)}: {time.perf_counter() - t0:.1f} s", flush=True)
        for table in ("organisation", "site", "device", "identification"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def timed(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    """Median seconds over `runs` (after one warm-up run) and the last result."""
    result = fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), result


def measure(engine: Engine, runs: int) -> None:
    policy = list(default_policy().countries)

    def count() -> int:
        with Session(engine) as s:
            return int(s.execute(select(func.count()).select_from(Identification)).scalar_one())

    def official_summary() -> Any:
        with Session(engine) as s:
            return summary(s, filters=DeviceFilter())

    def what_if(countries: list[str], sector: str | None = None, after: int | None = None) -> Callable[[], Any]:
        def run() -> Any:
            with Session(engine) as s:
                return whatif.evaluate(s, proposal=whatif.proposed_policy(countries), sector=sector, after=after)
        return run

    def json_grouping() -> Any:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM (SELECT o.sector, i.country, i.owner_country, i.flagged, "
                "json_extract_path_text(i.detail, 'oem_makers'), json_extract_path_text(i.detail, 'components'), "
                "count(*) FROM device d JOIN organisation o ON o.id = d.organisation_id "
                "LEFT JOIN identification i ON i.device_id = d.id GROUP BY 1, 2, 3, 4, 5, 6) g")).scalar_one()

    t_count, n = timed(count, runs)
    t_summary, official = timed(official_summary, runs)
    print(f"  baseline: count of {n:,} verdicts {t_count:.2f} s; official summary (GET /summary's query) "
          f"{t_summary:.2f} s, {official.total_flagged:,} flagged")
    cases = [("the policy's own list", policy), ("policy + HK", [*policy, "HK"]),
             ("CN RU IR KP BY", ["CN", "RU", "IR", "KP", "BY"]), ("TW", ["TW"]), ("without CN", ["RU", "IR", "KP"])]
    worst = 0.0
    for name, countries in cases:
        seconds, (result, nxt) = timed(what_if(countries), runs)
        worst = max(worst, seconds)
        print(f"  what-if {name:22} {seconds:5.2f} s  ({seconds / t_summary:4.1f}× the summary, "
              f"{seconds / t_count:5.1f}× the count): {result.total_flagged_whatif:,} flagged, "
              f"+{result.would_be_flagged:,} −{result.would_no_longer_be_flagged:,}, page of {len(result.changes)}")
        if countries == policy:
            assert result.would_be_flagged == result.would_no_longer_be_flagged == 0, "the policy's list changed flags"
            assert result.total_flagged == official.total_flagged
    seconds, (page, nxt) = timed(what_if([*policy, "TW"], after=None), runs)
    seconds2, _ = timed(what_if([*policy, "TW"], after=nxt), runs)
    print(f"  what-if policy + TW, first page {seconds:.2f} s, second page {seconds2:.2f} s")
    seconds, _ = timed(what_if([*policy, "HK"], sector="zorg"), runs)
    print(f"  what-if policy + HK, one sector: {seconds:.2f} s")
    seconds, _ = timed(json_grouping, 1)
    print(f"  for comparison, grouping by the JSON detail instead of flag_vendors (SQL alone): {seconds:.2f} s")

    settings = Settings(migrate_on_start=False, reattribute_on_start=False, attribute_on_ingest=False)
    with Session(engine) as s:
        _row, token = admin.create_api_token(s, name="bench", role="analyst")
        s.commit()
    with TestClient(create_app_for(settings, engine)) as client:
        def api() -> Any:
            r = client.post("/api/v1/whatif", json={"countries": [*policy, "HK"]},
                            headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            return r
        seconds, _ = timed(api, runs)
    worst = max(worst, seconds)
    print(f"  POST /api/v1/whatif (policy + HK, through HTTP, auth and audit): {seconds:.2f} s")
    print(f"  slowest what-if: {worst:.2f} s (target ≤ 5 s), {worst / t_summary:.1f}× the official summary")


def create_app_for(settings: Settings, engine: Engine) -> Any:
    from collector.app import create_app

    return create_app(settings, engine=engine)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--shapes", type=int, default=400, help="distinct verdicts the devices share")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--keep", action="store_true", help="keep the generated PostgreSQL database")
    args = parser.parse_args()
    with scratch_database("herkomst_bench_whatif", args.pg, keep=args.keep) as engine:
        t0 = time.perf_counter()
        shapes = templates(args.shapes)
        listed = sum(s["flagged"] for s in shapes)
        with_others = sum(bool(s["flag_vendors"]) for s in shapes)
        print(f"{len(shapes)} verdicts of the engine ({listed} flagged, {with_others} with makers or software "
              f"vendors besides their own) in {time.perf_counter() - t0:.1f} s")
        print(f"PostgreSQL: generating {args.devices:,} devices")
        populate(engine, args.devices, shapes)
        measure(engine, args.runs)


if __name__ == "__main__":
    main()
