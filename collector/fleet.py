"""The fleet: what each agent last said about itself, who has gone silent, and what the collector proposes to it.

An agent sends a small status (fingerprints.report.AgentHealth) with every report and on every heartbeat; the
latest is kept per agent (`agent_health`). An agent is *silent* when it is not revoked and nothing was heard from it
for two of its own periods (its heartbeat, else its scan interval); an agent that never said its period is judged
by HERKOMST_AGENT_SILENT_HOURS. The API, the CLI, the web view and the Prometheus gauge all count through
`fleet_status`, so they agree.

A proposal (fingerprints.report.Proposal) is advice, not a command: the agent applies it only inside the ceiling
its operator configured and answers what it applied and what it refused. Versions grow per agent; the highest is in
force, and a proposal with no fields asks the agent to return to its own configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from collector.errors import ApiError
from collector.models import Agent, AgentHealth, AgentProposal, Organisation, Report, Site, utcnow
from collector.settings import Settings
from fingerprints.report import AgentHealth as HealthDocument
from fingerprints.report import Proposal


@dataclass(frozen=True)
class FleetEntry:
    """One agent as the fleet view shows it."""

    id: str
    organisation_id: int
    organisation: str
    site: str
    hostname: str
    version: str
    enrolled_at: datetime
    last_seen_at: datetime | None
    revoked: bool
    reports: int
    last_report_at: datetime | None
    last_report_profile: str | None
    last_report_devices: int | None
    health: dict[str, Any] | None
    silent_after: timedelta
    silent: bool


def silent_after(heartbeat_seconds: float | None, interval_seconds: float | None, settings: Settings) -> timedelta:
    """How long without contact before an agent counts as silent: two of its periods (its heartbeat, else its scan
    interval), or HERKOMST_AGENT_SILENT_HOURS when it never said either."""
    periods = [p for p in (heartbeat_seconds, interval_seconds) if p]
    if not periods:
        return timedelta(hours=settings.agent_silent_hours)
    return timedelta(seconds=2 * min(periods))


def fleet_status(
    session: Session, settings: Settings, *, organisation_id: int | None = None, now: datetime | None = None
) -> list[FleetEntry]:
    """Every enrolled agent with its last report, its latest status and whether it is silent."""
    now = now or utcnow()
    a = Agent.__table__.c  # type: ignore[attr-defined]
    o = Organisation.__table__.c  # type: ignore[attr-defined]
    st = Site.__table__.c  # type: ignore[attr-defined]
    h = AgentHealth.__table__.c  # type: ignore[attr-defined]
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
               last.c.device_count, h.received_at.label("health_at"), h.via, h.taken_at, h.interval_seconds,
               h.heartbeat_seconds, h.spool_pending, h.spool_rejected, h.peak_rss_bytes, h.errors, h.last_scan)
        .select_from(Agent.__table__  # type: ignore[attr-defined]
                     .join(Organisation.__table__, o.id == a.organisation_id)  # type: ignore[attr-defined]
                     .join(Site.__table__, st.id == a.site_id)  # type: ignore[attr-defined]
                     .outerjoin(per_agent, per_agent.c.agent_id == a.id)
                     .outerjoin(last, last.c.id == per_agent.c.last_id)
                     .outerjoin(AgentHealth.__table__, h.agent_id == a.id))  # type: ignore[attr-defined]
        .order_by(o.name, a.hostname, a.id)
    )
    if organisation_id is not None:
        q = q.where(a.organisation_id == organisation_id)
    entries = []
    for row in session.execute(q).mappings():
        health = None
        if row["health_at"] is not None:
            health = {k: row[k] for k in ("via", "taken_at", "interval_seconds", "heartbeat_seconds", "spool_pending",
                                          "spool_rejected", "peak_rss_bytes", "errors", "last_scan")}
            health["received_at"] = row["health_at"]
        contact = row["last_seen_at"]  # kept by ingest and by heartbeats alike (fleet_counts reads only this)
        wait = silent_after(row["heartbeat_seconds"], row["interval_seconds"], settings)
        entries.append(FleetEntry(
            id=row["id"], organisation_id=row["organisation_id"], organisation=row["organisation"], site=row["site"],
            hostname=row["hostname"], version=row["version"], enrolled_at=row["created_at"],
            last_seen_at=contact, revoked=row["revoked_at"] is not None, reports=row["reports"] or 0,
            last_report_at=row["received_at"], last_report_profile=row["profile"],
            last_report_devices=row["device_count"], health=health, silent_after=wait,
            silent=row["revoked_at"] is None and (contact is None or contact < now - wait),
        ))
    return entries


def fleet_counts(session: Session, settings: Settings, *, now: datetime | None = None) -> tuple[int, int]:
    """(unrevoked agents, silent ones) — what the Prometheus gauges show, by the same rule as `fleet_status` but
    without reading the report log (ingest and heartbeats both keep `agent.last_seen_at`)."""
    now = now or utcnow()
    a = Agent.__table__.c  # type: ignore[attr-defined]
    h = AgentHealth.__table__.c  # type: ignore[attr-defined]
    q = (select(a.last_seen_at, h.heartbeat_seconds, h.interval_seconds)
         .select_from(Agent.__table__.outerjoin(AgentHealth.__table__, h.agent_id == a.id))  # type: ignore[attr-defined]
         .where(a.revoked_at.is_(None)))
    enrolled = silent = 0
    for seen, beat, interval in session.execute(q):
        enrolled += 1
        silent += seen is None or seen < now - silent_after(beat, interval, settings)
    return enrolled, silent


def _upsert(session: Session, values: dict[str, Any]) -> None:
    table = AgentHealth.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.agent_id], set_={k: stmt.excluded[k] for k in values if k != "agent_id"}))


def record_health(
    session: Session, agent: Agent, health: HealthDocument, *, via: str, version: str | None = None,
    hostname: str | None = None, now: datetime | None = None,
) -> None:
    """Keep the agent's latest status (replacing the one before), mark the contact, and file its proposal answer.
    Runs in the caller's transaction (the report's, for a status sent with a report)."""
    now = now or utcnow()
    doc = health.model_dump(mode="json")
    _upsert(session, {
        "agent_id": agent.id, "received_at": now, "via": via, "taken_at": health.taken_at,
        "interval_seconds": health.interval_seconds, "heartbeat_seconds": health.heartbeat_seconds,
        "spool_pending": health.spool_pending, "spool_rejected": health.spool_rejected,
        "peak_rss_bytes": health.peak_rss_bytes, "errors": doc["errors"], "last_scan": doc["last_scan"],
    })
    changes: dict[str, Any] = {"last_seen_at": now}
    if version:
        changes["version"] = version[:64]
    if hostname:
        changes["hostname"] = hostname[:255]
    session.execute(Agent.__table__.update().where(  # type: ignore[attr-defined]
        Agent.__table__.c.id == agent.id).values(**changes))  # type: ignore[attr-defined]
    answer = health.proposal
    if answer is not None:
        p = AgentProposal.__table__.c  # type: ignore[attr-defined]
        session.execute(AgentProposal.__table__.update().where(  # type: ignore[attr-defined]
            p.agent_id == agent.id, p.version == answer.version,
        ).values(state=answer.state, answer=answer.message, answered_at=answer.answered_at))


def current_proposal(session: Session, agent_id: str) -> Proposal | None:
    """The proposal in force for this agent (its highest version), as the agent receives it."""
    p = AgentProposal.__table__.c  # type: ignore[attr-defined]
    doc = session.execute(select(p.document).where(p.agent_id == agent_id).order_by(p.version.desc()).limit(1)
                          ).scalar_one_or_none()
    return None if doc is None else Proposal.model_validate(doc)


def propose(
    session: Session, *, agent_id: str, created_by: str, scope: list[Any] | None = None,
    exclude: list[Any] | None = None, profile: str | None = None, interval_seconds: float | None = None,
) -> AgentProposal:
    """Store a new proposal for one agent (the next version); it reaches the agent with its next heartbeat or report.
    No fields at all withdraws the proposals before it: the agent returns to its own configuration."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise ApiError(404, "not_found", f"no agent {agent_id}")
    if agent.revoked_at is not None:
        raise ApiError(409, "agent_revoked", "this agent's key was revoked; it will not hear the proposal")
    p = AgentProposal.__table__.c  # type: ignore[attr-defined]
    version = (session.execute(select(func.max(p.version)).where(p.agent_id == agent_id)).scalar() or 0) + 1
    proposal = Proposal(version=version, scope=scope, exclude=exclude or [], profile=profile,  # type: ignore[arg-type]
                        interval_seconds=interval_seconds)
    row = AgentProposal(agent_id=agent_id, version=version, document=proposal.model_dump(mode="json"),
                        created_at=utcnow(), created_by=created_by[:200])
    session.add(row)
    session.flush()
    return row


def proposals(session: Session, agent_id: str) -> list[AgentProposal]:
    """Every proposal made to this agent, newest first, with its answers."""
    p = AgentProposal.__table__.c  # type: ignore[attr-defined]
    return list(session.exec(  # type: ignore[call-overload]
        select(AgentProposal).where(p.agent_id == agent_id).order_by(p.version.desc())).scalars())


def latest_proposals(session: Session, agent_ids: list[str]) -> dict[str, AgentProposal]:
    """The proposal in force for each of these agents that has one."""
    if not agent_ids:
        return {}
    p = AgentProposal.__table__.c  # type: ignore[attr-defined]
    newest = (select(p.agent_id, func.max(p.version).label("version")).group_by(p.agent_id).subquery())
    q = (select(AgentProposal)
         .join(newest, (newest.c.agent_id == p.agent_id) & (newest.c.version == p.version)))
    if len(agent_ids) <= 1000:
        q = q.where(p.agent_id.in_(agent_ids))
    wanted = set(agent_ids)
    return {row.agent_id: row for row in session.exec(q).scalars() if row.agent_id in wanted}  # type: ignore[call-overload]
