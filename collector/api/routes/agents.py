"""The fleet: every enrolled agent, what it last said of itself, whether it has gone silent (analysts and admins);
the heartbeat (agents); proposals of scope, profile and schedule (admins propose, agents answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector import fleet
from collector.api.deps import AdminDep, AgentDep, AuditDep, SessionDep, SettingsDep
from collector.api.paging import IdQuery, reject_unknown_params
from collector.api.responses import AUTHENTICATED, errors
from collector.db import writer_lock
from collector.errors import ApiError, error_details
from collector.models import Agent, AgentProposal, utcnow
from collector.schemas import (
    AgentFleet,
    AgentHealthPublic,
    AgentStatus,
    HeartbeatReceipt,
    ProposalCreate,
    ProposalPublic,
)
from fingerprints.report import Heartbeat

router = APIRouter(prefix="/api/v1", tags=["analysts"], responses=errors(*AUTHENTICATED))

#: A heartbeat is a few hundred bytes; anything near this is not one.
MAX_HEARTBEAT_BYTES = 64 * 1024
#: How long a heartbeat waits for SQLite's single writer before it is answered 503 (the agent tries again later).
HEARTBEAT_WRITER_WAIT = 5.0

AgentIdPath = Annotated[str, Path(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$",
                                  description="the agent's id (UUID)")]


def _proposal_public(row: AgentProposal) -> ProposalPublic:
    return ProposalPublic.model_validate(row, from_attributes=True)


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
    """Enrolled agents with their last report, their latest status (spool depth, peak memory, last scan, recent
    errors) and the proposal in force; `silent` when an unrevoked agent has not been heard from for two of its own
    periods (HERKOMST_AGENT_SILENT_HOURS, default 48, when it never said its period)."""
    reject_unknown_params(request, {"organisation_id", "silent", "limit"})
    if limit > settings.page_size_max:
        raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
    entries = fleet.fleet_status(session, settings, organisation_id=organisation_id)
    latest = fleet.latest_proposals(session, [e.id for e in entries])
    items = []
    for e in entries:
        if silent is not None and e.silent != silent:
            continue
        items.append(AgentStatus(
            id=e.id, organisation_id=e.organisation_id, organisation=e.organisation, site=e.site,
            hostname=e.hostname, version=e.version, enrolled_at=e.enrolled_at, last_seen_at=e.last_seen_at,
            revoked=e.revoked, reports=e.reports, last_report_at=e.last_report_at,
            last_report_profile=e.last_report_profile, last_report_devices=e.last_report_devices,
            health=None if e.health is None else AgentHealthPublic.model_validate(e.health),
            proposal=None if e.id not in latest else _proposal_public(latest[e.id]),
            silent_after_hours=round(e.silent_after.total_seconds() / 3600, 3), silent=e.silent))
        if len(items) >= limit:
            break
    audit.record(len(items))
    return AgentFleet(items=items, silent=sum(a.silent for a in items), silent_after_hours=settings.agent_silent_hours)


def _store_heartbeat(engine: Engine, agent: Agent, beat: Heartbeat) -> HeartbeatReceipt:
    now = utcnow()
    with writer_lock(engine, timeout=HEARTBEAT_WRITER_WAIT), Session(engine, expire_on_commit=False) as session:
        fleet.record_health(session, agent, beat.status, via="heartbeat", version=beat.agent.version,
                            hostname=beat.agent.hostname, now=now)
        session.commit()
        return HeartbeatReceipt(received_at=now, proposal=fleet.current_proposal(session, agent.id))


@router.post("/agents/heartbeat", response_model=HeartbeatReceipt, tags=["reports"], responses=errors(413, 422, 503))
async def heartbeat(request: Request, agent: AgentDep) -> HeartbeatReceipt:
    """An agent's status between scans (fingerprints.report.Heartbeat, `herkomst schema heartbeat`); the answer
    carries the proposal in force for it, if any."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_HEARTBEAT_BYTES:
            raise ApiError(413, "too_large", f"a heartbeat is at most {MAX_HEARTBEAT_BYTES} bytes")
    try:
        beat = Heartbeat.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise ApiError(422, "invalid_heartbeat", "the heartbeat does not match the schema",
                       details=error_details(exc.errors())) from exc
    if str(beat.agent.id) != agent.id:
        raise ApiError(422, "agent_mismatch", "agent.id is not the agent whose key signed the request")
    return await run_in_threadpool(_store_heartbeat, request.app.state.engine, agent, beat)


@router.post("/admin/agents/{agent_id}/proposal", status_code=201, response_model=ProposalPublic, tags=["admin"],
             responses=errors(404, 409, 422))
def create_proposal(agent_id: AgentIdPath, body: ProposalCreate, session: SessionDep,
                    caller: AdminDep) -> ProposalPublic:
    """Propose scope, exclusions, profile or schedule to one agent (the next version). The agent applies only what
    lies inside the ceiling its operator set (scope within its allowed ranges, profile no higher than allowed,
    interval no shorter than allowed) and answers; see the agent in GET /api/v1/agents. An empty body withdraws
    the proposals before it."""
    row = fleet.propose(session, agent_id=agent_id, created_by=caller.name, scope=body.scope, exclude=body.exclude,
                        profile=body.profile, interval_seconds=body.interval_seconds)
    session.commit()
    return _proposal_public(row)


@router.get("/admin/agents/{agent_id}/proposals", response_model=list[ProposalPublic], tags=["admin"],
            responses=errors(404))
def list_proposals(agent_id: AgentIdPath, session: SessionDep, _caller: AdminDep) -> list[ProposalPublic]:
    """Every proposal made to this agent, newest first, with the agent's answers."""
    if session.get(Agent, agent_id) is None:
        raise ApiError(404, "not_found", f"no agent {agent_id}")
    return [_proposal_public(r) for r in fleet.proposals(session, agent_id)]
