"""The fleet: every enrolled agent, its version and site, when it last reported, and whether it has gone silent."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select

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
    a = Agent.__table__.c  # type: ignore[attr-defined]
    o = Organisation.__table__.c  # type: ignore[attr-defined]
    st = Site.__table__.c  # type: ignore[attr-defined]
    reports_t = Report.__table__  # type: ignore[attr-defined]
    per_agent = (
        select(reports_t.c.agent_id, func.count().label("reports"), func.max(reports_t.c.id).label("last_id"))
        .group_by(reports_t.c.agent_id)
        .subquery()
    )
    last = reports_t.alias("last_report")
    q = (
        select(a.id, a.organisation_id, o.name.label("organisation"), st.name.label("site"), a.hostname, a.version,
               a.created_at, a.last_seen_at, a.revoked_at, per_agent.c.reports, last.c.received_at, last.c.profile,
               last.c.device_count)
        .select_from(Agent.__table__  # type: ignore[attr-defined]
                     .join(Organisation.__table__, o.id == a.organisation_id)  # type: ignore[attr-defined]
                     .join(Site.__table__, st.id == a.site_id)  # type: ignore[attr-defined]
                     .outerjoin(per_agent, per_agent.c.agent_id == a.id)
                     .outerjoin(last, last.c.id == per_agent.c.last_id))
        .order_by(o.name, a.hostname, a.id)
    )
    if organisation_id is not None:
        q = q.where(a.organisation_id == organisation_id)
    cutoff = utcnow() - timedelta(hours=settings.agent_silent_hours)
    items = []
    for row in session.execute(q).mappings():
        last_at = row["received_at"]
        is_silent = row["revoked_at"] is None and (last_at is None or last_at < cutoff)
        if silent is not None and is_silent != silent:
            continue
        items.append(AgentStatus(
            id=row["id"], organisation_id=row["organisation_id"], organisation=row["organisation"], site=row["site"],
            hostname=row["hostname"], version=row["version"], enrolled_at=row["created_at"],
            last_seen_at=row["last_seen_at"], revoked=row["revoked_at"] is not None, reports=row["reports"] or 0,
            last_report_at=last_at, last_report_profile=row["profile"], last_report_devices=row["device_count"],
            silent=is_silent))
        if len(items) >= limit:
            break
    audit.record(len(items))
    return AgentFleet(items=items, silent=sum(a.silent for a in items), silent_after_hours=settings.agent_silent_hours)
