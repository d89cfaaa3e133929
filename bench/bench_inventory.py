"""Monthly inventory report timing (not a timed test): all sectors, every format, time and peak memory.

`measure_monthly_report(engine)` is called by bench/bench_analyst.py on its 1M-device PostgreSQL database.
Standalone, `python -m bench.bench_inventory --devices 200000` generates a SQLite database of that size and measures it.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.inventory import Period, current_period
from collector.inventory.pdf import find_chromium
from collector.inventory.store import ReportRequest, render
from collector.models import Agent, Device, Identification, Organisation, Report, Site


def measure_monthly_report(engine: Engine, period: Period | None = None) -> None:
    """Render last month's all-sector report in every format; print seconds, size and peak memory."""
    period = period or current_period().previous()
    formats = ["html", "json", "csv"] + (["pdf"] if find_chromium() else [])
    for fmt in formats:
        t0 = time.perf_counter()
        with Session(engine) as session:
            data, _versions = render(session, ReportRequest(period, None, fmt, True))
        elapsed = time.perf_counter() - t0
        print(f"  monthly report {period} {fmt:4}: {elapsed:6.1f} s, {len(data) / 1e6:6.2f} MB (target ≤ 60 s)",
              flush=True)
    # tracemalloc slows allocation-heavy code several-fold, so the peak is measured in a run of its own
    tracemalloc.start()
    with Session(engine) as session:
        render(session, ReportRequest(period, None, "html", True))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  monthly report peak Python heap (html): {peak / 1e6:.1f} MB; process peak RSS so far: {rss:.0f} MB")


def populate(engine: Engine, devices: int, orgs: int = 500) -> None:
    """Devices spread over the last few months, a sixth of them from listed vendors, with short evidence."""
    rnd = random.Random(1)
    t0 = current_period().previous().start + timedelta(days=3)
    vendors = [("hikvision", "CN", True), ("huawei", "CN", True), ("siemens", "DE", False), ("cisco", "US", False),
               ("kaspersky", "RU", True), (None, None, False)]
    sectors = ["water", "energie", "drinkwater", "transport", "telecom-ict", "chemie"]
    agent = str(uuid.UUID(int=1))
    with engine.begin() as c:
        c.execute(insert(Organisation.__table__), [  # type: ignore[attr-defined]
            {"id": i + 1, "name": f"Organisation {i}", "sector": sectors[i % len(sectors)], "created_at": t0}
            for i in range(orgs)])
        c.execute(insert(Site.__table__), [  # type: ignore[attr-defined]
            {"id": i + 1, "organisation_id": i + 1, "name": "site", "created_at": t0} for i in range(orgs)])
        c.execute(insert(Agent.__table__), [{"id": agent, "lookup": "bench", "secret_hash": "x",  # type: ignore[attr-defined]
                                             "organisation_id": 1, "site_id": 1, "created_at": t0}])
        c.execute(insert(Report.__table__), [{  # type: ignore[attr-defined]
            "id": 1, "report_id": str(uuid.UUID(int=2)), "agent_id": agent, "organisation_id": 1, "site_id": 1,
            "received_at": t0, "content_sha256": "x", "raw_gzip": b"", "raw_size": 0, "profile": "safe",
            "scan_started_at": t0, "scan_finished_at": t0, "device_count": 0, "observation_count": 0, "receipt": {}}])
        for start in range(0, devices, 20_000):
            devs, idents = [], []
            for k in range(start, min(devices, start + 20_000)):
                org = rnd.randrange(orgs) + 1
                first = t0 - timedelta(days=rnd.randrange(60))
                devs.append({"id": k + 1, "organisation_id": org, "site_id": org, "identity_key": f"mac:{k}",
                             "first_seen": first, "last_seen": first + timedelta(days=rnd.randrange(60)),
                             "first_report_id": 1, "last_report_id": 1, "is_agent_host": False})
                vendor, country, flagged = rnd.choice(vendors)
                idents.append({
                    "device_id": k + 1, "origin": "collector", "vendor_id": vendor,
                    "vendor": vendor.title() if vendor else None, "country": country, "owner_country": country,
                    "flagged": flagged, "confidence": 0.9, "category": "camera" if vendor == "hikvision" else "network",
                    "catalogue_version": "bench", "policy_version": "bench", "computed_at": t0,
                    "detail": {"flag_reasons": ["headquarters listed"], "evidence": [
                        {"kind": "mac", "value": "28:57:be:00:00:01", "rule_id": "oui.ma-l", "conclusion": "vendor",
                         "weight": 0.35}]},
                })
            c.execute(insert(Device.__table__), devs)  # type: ignore[attr-defined]
            c.execute(insert(Identification.__table__), idents)  # type: ignore[attr-defined]


def main() -> None:
    from collector.db import make_engine
    from collector.migrate import upgrade

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        t0 = time.perf_counter()
        populate(engine, args.devices)
        print(f"SQLite: {args.devices:,} devices generated in {time.perf_counter() - t0:.0f} s")
        measure_monthly_report(engine)
        engine.dispose()


if __name__ == "__main__":
    main()
