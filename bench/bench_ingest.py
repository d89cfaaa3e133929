"""Benchmark: ingest a 10,000-device × 8-observation report into SQLite and PostgreSQL.

Prints seconds and devices/s for a first ingest, for a re-ingest of the same report (idempotent: stores nothing),
and the ratio against a naive per-row ORM insert-and-commit measured in the same run on the same database.

    .venv/bin/python -m bench.bench_ingest [--devices 10000] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector import admin
from collector.db import make_engine
from collector.ingest import duplicate_receipt, gc_paused, inspect_body, parse_report, store_report
from collector.migrate import upgrade
from collector.models import Agent, Observation, utcnow
from tests.factories import report_doc


def _ingest(engine: Engine, agent: Agent, wire: bytes) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    # the same steps as POST /api/v1/reports, without HTTP
    body = inspect_body(wire, "gzip", max_decompressed=256 << 20)
    digest = body.sha256
    with Session(engine, expire_on_commit=False) as s:
        earlier = duplicate_receipt(s, agent=agent, content_sha256=digest)
    if earlier is not None:
        return time.perf_counter() - start, earlier.model_dump(mode="json")
    parse_start = time.perf_counter()
    with gc_paused():
        report = parse_report(body, site_id=agent.site_id)
        store_start = time.perf_counter()
        with Session(engine, expire_on_commit=False) as s:
            receipt, _new = store_report(s, agent=agent, parsed=report, content_sha256=digest, raw_gzip=wire,
                                         raw_size=body.size)
            s.commit()
    end = time.perf_counter()
    print(f"    decode {parse_start - start:.2f} s, validate {store_start - parse_start:.2f} s, "
          f"store {end - store_start:.2f} s")
    return end - start, receipt.model_dump(mode="json")


def _naive_rows_per_second(engine: Engine, device_id: int, report_pk: int, rows: int) -> float:
    """What a per-row ORM insert with a commit each achieves."""
    now = utcnow()
    start = time.perf_counter()
    with Session(engine) as s:
        for n in range(rows):
            s.add(Observation(device_id=device_id, obs_key=-1 - n, kind="http.server", value=f"naive {n}",
                              port=80, proto="tcp", source="bench", first_seen=now, last_seen=now,
                              first_report_id=report_pk, last_report_id=report_pk))
            s.commit()
    return rows / (time.perf_counter() - start)


def run(name: str, engine: Engine, devices: int) -> dict[str, float]:
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as s:
        org = admin.create_organisation(s, name=f"bench {uuid.uuid4().hex[:6]}", sector="energie")
        assert org.id is not None
        _row, token = admin.create_enrollment_token(s, organisation_id=org.id, site="bench",
                                                    expires_in=timedelta(hours=1), max_uses=1)
        agent, _key = admin.enroll_agent(s, token=token, hostname="bench", version="bench")
        s.commit()
    doc = report_doc(agent.id, devices=devices, observations=8)
    wire = gzip.compress(json.dumps(doc).encode(), compresslevel=1)
    first, receipt = _ingest(engine, agent, wire)
    again, receipt2 = _ingest(engine, agent, wire)
    with Session(engine) as s:
        obs_rows = s.execute(select(func.count()).select_from(Observation)).scalar_one()
        dev_id, rpk = s.execute(select(Observation.device_id, Observation.first_report_id).limit(1)).one()
    assert receipt2.get("duplicate") is True
    naive = _naive_rows_per_second(engine, dev_id, rpk, 300 if name == "sqlite" else 300)
    rows_stored = devices * 2 + devices * 8  # devices, sightings, observations
    naive_seconds = rows_stored / naive
    print(f"[{name}] first ingest: {first:.2f} s, {devices / first:,.0f} devices/s "
          f"({receipt['observations']['new']:,} observations stored; {obs_rows:,} rows in table)")
    print(f"[{name}] same report again: {again:.3f} s, duplicate={receipt2.get('duplicate')}, nothing stored")
    print(f"[{name}] naive per-row insert+commit: {naive:,.0f} rows/s → {naive_seconds:,.0f} s for "
          f"{rows_stored:,} rows; speed-up {naive_seconds / first:,.0f}×")
    return {"first": first, "again": again, "ratio": naive_seconds / first}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--pg", default=os.environ.get("HERKOMST_TEST_PG",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run("sqlite", make_engine(f"sqlite:///{tmp}/bench.db"), args.devices)
    import psycopg

    name = f"herkomst_bench_{os.getpid()}"
    admin_dsn = args.pg.replace("+psycopg", "")
    with psycopg.connect(admin_dsn, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(args.pg.rsplit("/", 1)[0] + "/" + name)
        results["postgres"] = run("postgres", engine, args.devices)
        engine.dispose()
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak:.0f} MiB")
    ok = all(r["first"] <= 2.0 and r["again"] <= 0.2 and r["ratio"] >= 50 for r in results.values())
    print("targets (≤ 2 s, re-ingest ≤ 0.2 s, ≥ 50× naive):", "met" if ok else "NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
