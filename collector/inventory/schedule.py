"""Scheduled generation: once a month has ended, make its all-sector reports in the configured formats.

Configured with HERKOMST_REPORT_SCHEDULE (e.g. "html,pdf"; empty: off). `herkomst collector serve` starts one
background thread that checks every hour; a report already stored by the scheduler for that month and format is
not made again, so restarts and several collector processes do no more than repeat a check.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.inventory.period import current_period
from collector.inventory.render import FORMATS
from collector.inventory.store import ReportRequest, generate
from collector.models import InventoryReport

log = logging.getLogger("herkomst.collector.schedule")
CREATED_BY = "scheduler"


def parse_schedule(value: str) -> list[str]:
    """'html, pdf' → ['html', 'pdf']; ValueError naming the unknown format."""
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"HERKOMST_REPORT_SCHEDULE names unknown format(s) {bad}; use some of {list(FORMATS)}")
    return list(dict.fromkeys(formats))


def run_due(engine: Engine, formats: list[str], *, pseudonym_key: bytes | None = None,
            now: datetime | None = None) -> list[int]:
    """Generate last month's reports that the scheduler has not made yet; the ids of the new ones."""
    period = current_period(now).previous()
    made: list[int] = []
    for fmt in formats:
        with Session(engine, expire_on_commit=False) as session:
            t = InventoryReport.__table__.c  # type: ignore[attr-defined]
            exists = session.execute(select(t.id).where(
                t.period == str(period), t.format == fmt, t.sector.is_(None), t.created_by == CREATED_BY,
            ).limit(1)).first()
            if exists is not None:
                continue
            row = generate(session, ReportRequest(period, None, fmt, False), created_by=CREATED_BY,
                           pseudonym_key=pseudonym_key, now=now)
            session.commit()
            assert row.id is not None
            made.append(row.id)
            log.info("scheduled inventory report %s (%s) stored as #%s", period, fmt, row.id)
    return made


def start(engine: Engine, formats: list[str], *, pseudonym_key: bytes | None = None,
          interval_s: float = 3600.0) -> threading.Event:
    """Start the background thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                run_due(engine, formats, pseudonym_key=pseudonym_key)
            except Exception:  # a failed month is retried at the next check; the collector keeps serving
                log.exception("scheduled inventory report failed")
            stop.wait(interval_s)

    threading.Thread(target=loop, name="inventory-schedule", daemon=True).start()
    return stop
