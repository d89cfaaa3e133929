"""Agent enrolment: an enrollment token buys an agent id and a key."""

from __future__ import annotations

from fastapi import APIRouter

from collector.admin import enroll_agent, get_organisation
from collector.api.deps import MetricsDep, SessionDep
from collector.api.responses import errors
from collector.models import Site
from collector.schemas import EnrollRequest, EnrollResponse

router = APIRouter(prefix="/api/v1", tags=["agents"])


@router.post("/enroll", status_code=201, response_model=EnrollResponse, responses=errors(401, 404, 422, 503))
def enroll(body: EnrollRequest, session: SessionDep, metrics: MetricsDep) -> EnrollResponse:
    """Enrol an agent. The key in the answer is shown once and stored only as a hash."""
    agent, key = enroll_agent(session, token=body.enrollment_token, hostname=body.hostname, version=body.version)
    org = get_organisation(session, organisation_id=agent.organisation_id)
    site = session.get(Site, agent.site_id)
    session.commit()
    metrics.enrolments.inc()
    return EnrollResponse(agent_id=agent.id, agent_key=key, organisation=org.name, site=site.name if site else "")
