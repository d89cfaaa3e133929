"""The fleet: every enrolled agent, its version and site, when it last reported, and whether it has gone silent."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from collector.api.deps import AuditDep, SessionDep, SettingsDep
from collector.api.paging import IdQuery, reject_unknown_params
from collector.api.responses import AUTHENTICATED, errors
from collector.errors import ApiError
from collector.models import Agent, Organisation, Report, Site, utcnow
from collector.schemas import AgentFleet, AgentStatus

router = APIRouter(prefix="/api/v1", tags=["analysts"], responses=errors(*AUTHENTICATED))


@router.get("/agents", response_model=AgentFleet)
def list_agents(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    settings: SettingsDep,
    organisation_id: IdQuery = None,
    silent: bool | None = Query(default=None, description="only silent (true) or only reporting (false) agents"),
    limit: Annotated[int, Query(ge=1)] = 1000,
) -> AgentFleet:
    """Enrolled agents with their last report; `silent` when an unrevoked agent has not reported for
    HERKOMST_AGENT_SILENT_HOURS (default 48)."""
    reject_unknown_params(request, {"organisation_id", "silent", "limit"})
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    per_agent = (
        select(Report.agent_id.label("agent_id"), func.count().label("reports"),  # type: ignore[attr-defined]
               func.max(Report.id).label("last_id"))  # type: ignore[arg-type]
        .group_by(Report.agent_id)
        .subquery()
    )
    last = aliased(Report)
    q = (
        select(Agent, Organisation.name, Site.name, per_agent.c.reports, last.received_at, last.profile,
               last.device_count)
        .join(Organisation, Organisation.id == Agent.organisation_id)  # type: ignore[arg-type]
        .join(Site, Site.id == Agent.site_id)  # type: ignore[arg-type]
        .outerjoin(per_agent, per_agent.c.agent_id == Agent.id)
        .outerjoin(last, last.id == per_agent.c.last_id)  # type: ignore[arg-type]
        .order_by(Organisation.name, Agent.hostname, Agent.id)
    )
    if organisation_id is not None:
        q = q.where(Agent.organisation_id == organisation_id)  # type: ignore[arg-type]
    cutoff = utcnow() - timedelta(hours=settings.agent_silent_hours)
    items = []
    for agent, org, site, reports, last_at, profile, devices in session.execute(q):
        is_silent = agent.revoked_at is None and (last_at is None or last_at < cutoff)
        if silent is not None and is_silent != silent:
            continue
        items.append(AgentStatus(
            id=agent.id, organisation_id=agent.organisation_id, organisation=org, site=site,
            hostname=agent.hostname, version=agent.version, enrolled_at=agent.created_at,
            last_seen_at=agent.last_seen_at, revoked=agent.revoked_at is not None, reports=reports or 0,
            last_report_at=last_at, last_report_profile=profile, last_report_devices=devices, silent=is_silent))
        if len(items) >= limit:
            break
    audit.record(len(items))
    return AgentFleet(items=items, silent=sum(a.silent for a in items), silent_after_hours=settings.agent_silent_hours)
