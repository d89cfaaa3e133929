"""Benchmark: 1,000 agents report at the same moment to one collector process, on SQLite and on PostgreSQL.

Prints throughput (reports stored per second), p50/p99 of the time from an agent's first attempt to its receipt,
the answers (any 5xx is a failure; 503 means "busy, come back after Retry-After"), 100 concurrent analyst reads, and
the collector's peak RSS (VmHWM). The baseline, measured in the same run, is the same number of reports sent one at
a time by a single agent loop: concurrency should not make the collector slower per report.

    .venv/bin/python -m bench.bench_load [--agents 1000] [--devices 5] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.loadgen import enrol_agents, percentile, read_all, report_body, submit_all


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--devices", type=int, default=5)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", args.agents, args.devices, Path(tmp))
        import psycopg

        name = f"herkomst_bench_load_{uuid.uuid4().hex[:8]}"
        admin_dsn = args.pg.replace("+psycopg", "")
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run("postgresql", args.pg.rsplit("/", 1)[0] + "/" + name, args.agents, args.devices, Path(tmp))
        finally:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
