"""The collector's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from collector.api.routes import admin, devices, enroll, health, reports
from collector.db import make_engine
from collector.errors import install_handlers
from collector.metrics import Metrics
from collector.migrate import upgrade
from collector.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """A collector on the configured database, migrated to the newest schema unless told not to."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.effective_database_url)
    if settings.migrate_on_start:
        upgrade(engine)
    app = FastAPI(
        title="Herkomst collector",
        version="1",
        description="Enrols agents, ingests their reports, and answers analysts about the origin of equipment "
        "in vital-sector networks.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = Metrics()
    install_handlers(app, on_reject=lambda reason: app.state.metrics.rejected.labels(reason).inc())
    for module in (health, enroll, reports, devices, admin):
        app.include_router(module.router)
    return app
