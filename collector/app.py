"""The collector's FastAPI application."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from collector.admission import Admission
from collector.api.audit_trail import AuditTrail
from collector.api.routes import admin, agents, devices, enroll, health, inventory, policy, reports, web, whatif
from collector.attribution import ReattributionBusy, needs_reattribution, reattribute
from collector.cache import TTLCache
from collector.db import make_engine
from collector.errors import install_handlers
from collector.metrics import Metrics
from collector.migrate import upgrade
from collector.settings import Settings, get_settings

log = logging.getLogger("herkomst.collector")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.reattribute_on_start:
        threading.Thread(target=_reattribute_if_needed, args=(app.state.engine,), daemon=True,
                         name="reattribute").start()
    yield


#: How often a running collector looks again whether its verdicts are stale: an ownership or list fact that begins
#: or ends on a date (KUKA → Midea, an FCC listing) changes verdicts without any change to the data.
RECHECK_SECONDS = 6 * 3600


def _reattribute_if_needed(engine: Engine) -> None:
    while True:
        try:
            if needs_reattribution(engine):
                log.info("the catalogue, the policy or the facts valid today changed: re-attributing every device")
                reattribute(engine)
        except ReattributionBusy:
            log.info("another collector process is re-attributing; this one leaves it to that one")
        except Exception:  # the API keeps serving; the next check or `herkomst collector reattribute` retries
            log.exception("re-attribution failed")
        time.sleep(RECHECK_SECONDS)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """A collector on the configured database, migrated to the newest schema unless told not to."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.effective_database_url, pool_size=settings.db_pool_size,
                                   max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_timeout)
    if settings.migrate_on_start:
        upgrade(engine)
    app = FastAPI(
        lifespan=_lifespan,
        title="Herkomst collector",
        version="1",
        description="Enrols agents, ingests their reports, and answers analysts about the origin of equipment "
        "in vital-sector networks.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = Metrics()
    app.state.summary_cache = TTLCache[Any](settings.summary_cache_seconds)
    app.state.admission = Admission.from_settings(settings)
    install_handlers(app, on_reject=app.state.metrics.count_refusal, retry_after=settings.retry_after_seconds)
    for module in (health, enroll, reports, devices, agents, admin, inventory, policy, web, whatif):
        app.include_router(module.router)
    app.add_middleware(AuditTrail, engine=engine)
    return app
