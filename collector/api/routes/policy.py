"""The policy in force and its history (analysts), and setting a new one (admins; audited; re-attributes)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from collector import policy as policies
from collector.api.deps import AdminDep, AuditDep, SessionDep
from collector.api.responses import AUTHENTICATED, errors
from collector.attribution import ReattributionBusy, reattribute
from collector.models import PolicyRecord, utcnow

router = APIRouter(prefix="/api/v1", tags=["policy"], responses=errors(*AUTHENTICATED))
log = logging.getLogger("herkomst.collector")


class PolicyPublic(BaseModel):
    version: str
    name: str
    countries: list[str] = Field(description="ISO 3166-1 alpha-2 codes whose vendors are flagged")
    sources: list[dict[str, Any]]
    territories: dict[str, str]
    valid_from: datetime | None = Field(description="null for the shipped policy while none is stored")
    set_by: str
    set_at: datetime | None = None
    note: str = ""
    stored: bool = Field(description="false: the shipped default, no policy has been set in this collector")


class PolicySet(BaseModel):
    """A new policy version: the policy document (as `herkomst collector policy show --json` prints it), when it
    starts (default now; never inside the validity of an earlier one) and why."""

    model_config = ConfigDict(extra="forbid")
    policy: dict[str, Any]
    valid_from: AwareDatetime | None = None
    note: str = Field(default="", max_length=2000)


def _public(row: PolicyRecord) -> PolicyPublic:
    doc = row.document
    return PolicyPublic(version=row.version, name=doc.get("name", ""), countries=doc["countries"],
                        sources=doc.get("sources", []), territories=doc.get("territories", {}),
                        valid_from=row.valid_from, set_by=row.set_by, set_at=row.set_at, note=row.note, stored=True)


@router.get("/policy", response_model=PolicyPublic)
def get_policy(session: SessionDep, audit: AuditDep) -> PolicyPublic:
    """The policy in force: which countries' vendors are flagged, since when, who set it, and its sources."""
    now = policies.policy_in_force(session)
    audit.record(1)
    p = now.policy
    return PolicyPublic(version=p.version, name=p.name, countries=list(p.countries),
                        sources=[s.model_dump() for s in p.sources], territories=dict(p.territories),
                        valid_from=now.valid_from, set_by=now.set_by, stored=now.stored)


@router.get("/policy/history", response_model=list[PolicyPublic])
def policy_history(session: SessionDep, audit: AuditDep) -> list[PolicyPublic]:
    """Every policy stored, newest first (empty while the shipped default is in force)."""
    rows = policies.history(session)
    audit.record(len(rows))
    return [_public(r) for r in rows]


def _reattribute(engine: Engine, summary_cache: Any) -> None:
    try:
        reattribute(engine)
        summary_cache.clear()
    except ReattributionBusy:  # the runner elsewhere looks again when its run ends and takes the new policy in
        log.info("re-attribution after the policy change is left to the collector process already running one")
    except Exception:  # retried by the periodic check and by `herkomst collector reattribute`
        log.exception("re-attribution after a policy change failed")


@router.post("/admin/policy", status_code=201, response_model=PolicyPublic, tags=["admin"],
             responses=errors(409, 422))
def set_policy(body: PolicySet, request: Request, background: BackgroundTasks, session: SessionDep,
               caller: AdminDep, audit: AuditDep) -> PolicyPublic:
    """Store a new policy version. Refused with a reason: unknown country codes, no source, a version stored
    already, or a start inside an earlier policy's validity. Once it is in force, every device is re-attributed
    (in the background) and each change is recorded with reason "policy"."""
    row = policies.set_policy(session, body.policy, set_by=caller.name, valid_from=body.valid_from, note=body.note)
    session.commit()
    audit.record(1, status=201)  # the route's own row, with the caller; the audit middleware adds none
    if row.valid_from <= utcnow():
        background.add_task(_reattribute, request.app.state.engine, request.app.state.summary_cache)
    return _public(row)
