"""Liveness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from collector.api.deps import MetricsDep, SessionDep
from collector.errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    """200 when the collector can reach its database."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy", with the reason
        raise ApiError(503, "database_unavailable", f"the database does not answer: {exc}") from exc
    return {"status": "ok"}


@router.get("/metrics")
def metrics(request: Request, m: MetricsDep) -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
