"""Liveness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from collector.api.deps import MetricsDep, MetricsReaderDep, SessionDep, SettingsDep
from collector.api.responses import errors
from collector.errors import ApiError
from collector.fleet import fleet_counts

router = APIRouter(tags=["health"])


@router.get("/healthz", responses=errors(503))
def healthz(session: SessionDep) -> dict[str, str]:
    """200 when the collector can reach its database."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy", with the reason
        raise ApiError(503, "database_unavailable", f"the database does not answer: {exc}") from exc
    return {"status": "ok"}


@router.get("/metrics", responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                         "description": "Prometheus text format"},
                                   **errors(401, 403, 503)})
def metrics(m: MetricsDep, _caller: MetricsReaderDep, session: SessionDep, settings: SettingsDep) -> Response:
    """Prometheus metrics of this process (counts only, nothing per organisation), and the fleet's gauges counted
    from the database. Needs an API token — best one of role `metrics`, which reads nothing else:
    `Authorization: Bearer hkt_…`."""
    enrolled, silent = fleet_counts(session, settings)
    m.agents.set(enrolled)
    m.agents_silent.set(silent)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
