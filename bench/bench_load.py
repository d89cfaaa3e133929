"""Benchmark: 1,000 agents report at the same moment to one collector process, on SQLite and on PostgreSQL.

Prints throughput (reports stored per second), p50/p99 of the time from an agent's first attempt to its receipt,
the answers (any 5xx is a failure; 503 means "busy, come back after Retry-After"), 100 concurrent analyst reads, and
the collector's peak RSS (VmHWM). The baseline, measured in the same run, is the same number of reports sent one at
a time by a single agent loop: concurrency should not make the collector slower per report.

The large-body case then sends --large (4) valid reports of 1,000,000 observations each (10,000 devices × 100) at
the same moment to a fresh collector process: every one must be stored, and the collector's peak RSS must stay
within 1 GB (its byte budgets admit what fits and answer 503 + Retry-After to the rest, which the senders honour).

    .venv/bin/python -m bench.bench_load [--agents 1000] [--devices 5] [--large 4] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlmodel import Session

from collector import admin
from collector.db import make_engine
from collector.migrate import upgrade
from deploy.serve import CollectorProcess
from tests.factories import report_doc
from tests.loadgen import Submission, deliver, enrol_agents, percentile, read_all, report_body, submit_all


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(label: str, url: str, agents_n: int, devices: int, tmp: Path) -> None:
    engine = make_engine(url)
    upgrade(engine)
    agents = enrol_agents(engine, agents_n + 50)
    with Session(engine) as session:
        _row, analyst = admin.create_api_token(session, name="bench", role="analyst")
        session.commit()
    env = {"HERKOMST_DATABASE_URL": url, "HERKOMST_DATA_DIR": str(tmp)}
    with CollectorProcess(env, tmp / f"{label}.log") as server:
        # baseline: 50 reports one after another from one loop
        serial = agents[agents_n:]
        started = time.perf_counter()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for n, agent in enumerate(serial):
                body = report_body(agent, devices=devices, report_id=str(uuid.uuid4()), mac_seed=10_000 + n)
                r = client.post("/api/v1/reports", content=body, headers={
                    "Authorization": f"Bearer {agent.key}", "Content-Encoding": "gzip"})
                assert r.status_code == 201, r.text
        serial_rate = len(serial) / (time.perf_counter() - started)

        started = time.perf_counter()
        results = asyncio.run(submit_all(server.url, agents[:agents_n], devices=devices, patience=600))
        wall = time.perf_counter() - started
        stored = sum(r.stored for r in results)
        first = Counter(r.statuses[0] for r in results)
        every = Counter(s for r in results for s in r.statuses)
        lat = [r.seconds for r in results if r.stored]
        reads = asyncio.run(read_all(server.url, analyst, 100))
        read_lat = [r.seconds for r in reads]
        rss = _peak_rss_mb(server.proc.pid) if server.proc else 0.0
    rate = stored / wall
    print(f"{label}: {agents_n} agents × {devices} devices at once: {stored}/{agents_n} stored in {wall:.1f} s "
          f"({rate:.0f} reports/s; one-at-a-time baseline {serial_rate:.0f}/s → {rate / serial_rate:.2f}×)")
    print(f"    first answers {dict(first)}; all answers {dict(every)}; 5xx other than 503: "
          f"{sum(v for k, v in every.items() if k >= 500 and k != 503)}")
    print(f"    time to receipt p50 {percentile(lat, 50):.2f} s, p99 {percentile(lat, 99):.2f} s")
    print(f"    100 analyst reads at once: {dict(Counter(r.status for r in reads))}, p50 "
          f"{percentile(read_lat, 50):.2f} s, p99 {percentile(read_lat, 99):.2f} s; collector peak RSS {rss:.0f} MB")
    engine.dispose()


def _large_body(agent_id: str, report_id: str, devices: int, per_device: int, seed: int) -> bytes:
    doc = report_doc(agent_id, devices=devices, observations=per_device, report_id=report_id,
                     mac_base=0x02_00_00_00_00_00 + (seed << 20))
    return gzip.compress(json.dumps(doc).encode(), compresslevel=1)


def run_large(label: str, url: str, bodies_n: int, tmp: Path, *, devices: int = 10_000, per_device: int = 100) -> None:
    """`bodies_n` reports of devices × per_device observations at once; all stored, peak RSS ≤ 1 GB."""
    engine = make_engine(url)
    upgrade(engine)
    agents = enrol_agents(engine, bodies_n)
    print(f"{label}: building {bodies_n} bodies of {devices * per_device:,} observations …", flush=True)
    bodies = [(a, _large_body(a.agent_id, str(uuid.uuid4()), devices, per_device, n)) for n, a in enumerate(agents)]
    wire = sum(len(b) for _a, b in bodies) / bodies_n / 2**20
    env = {"HERKOMST_DATABASE_URL": url, "HERKOMST_DATA_DIR": str(tmp)}

    async def send_all(base_url: str) -> list[Submission]:
        deadline = time.monotonic() + 1800
        async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(600.0)) as client:
            return list(await asyncio.gather(*[
                deliver(client, a, body, "", devices, deadline=deadline) for a, body in bodies]))

    with CollectorProcess(env, tmp / f"{label}-large.log") as server:
        base_rss = _peak_rss_mb(server.proc.pid) if server.proc else 0.0
        started = time.perf_counter()
        results = asyncio.run(send_all(server.url))
        wall = time.perf_counter() - started
        rss = _peak_rss_mb(server.proc.pid) if server.proc else 0.0
    stored = sum(r.stored for r in results)
    every = Counter(s for r in results for s in r.statuses)
    verdict = "within" if rss <= 1024 else "OVER"
    print(f"{label}: {bodies_n} × {devices * per_device:,} observations at once ({wire:.1f} MiB gzip each): "
          f"{stored}/{bodies_n} stored in {wall:.0f} s; answers {dict(every)}")
    print(f"    collector peak RSS {rss:.0f} MB ({verdict} 1 GB; idle {base_rss:.0f} MB → {rss / base_rss:.1f}×)")
    engine.dispose()


def _pg_database(pg: str) -> tuple[str, str]:
    import psycopg

    name = f"herkomst_bench_load_{uuid.uuid4().hex[:8]}"
    admin_dsn = pg.replace("+psycopg", "")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.rsplit("/", 1)[0] + "/" + name, name


def _drop_pg_database(pg: str, name: str) -> None:
    import psycopg

    with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=1000, help="concurrent agents (0: skip)")
    ap.add_argument("--devices", type=int, default=5)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--large", type=int, default=4, help="concurrent 1M-observation bodies (0: skip)")
    ap.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = ap.parse_args()
    for label in ("sqlite", "postgresql"):
        if args.only not in (None, label):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            for case in ("agents", "large"):
                if (case == "large" and not args.large) or (case == "agents" and not args.agents):
                    continue
                if label == "sqlite":
                    url, name = f"sqlite:///{tmp}/bench-{case}.db", ""
                else:
                    url, name = _pg_database(args.pg)
                try:
                    if case == "agents":
                        run(label, url, args.agents, args.devices, Path(tmp))
                    else:
                        run_large(label, url, args.large, Path(tmp))
                finally:
                    if name:
                        _drop_pg_database(args.pg, name)

if __name__ == "__main__":
    main()
