"""Administration: organisations, enrollment tokens, API tokens, revocation. Admin tokens only."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator
from sqlmodel import select

from collector import admin, audit
from collector.api.deps import AdminDep, AnalystDep, AuditDep, SessionDep
from collector.api.paging import IdPath, IdQuery, QueryTime, reject_unknown_params
from collector.api.responses import AUTHENTICATED, errors
from collector.models import Organisation
from collector.schemas import (
    ApiTokenCreate,
    ApiTokenPublic,
    AuditEntry,
    AuditPage,
    AuditVerification,
    EnrollmentTokenCreate,
    EnrollmentTokenPublic,
    OrganisationCreate,
    OrganisationPublic,
)
from collector.sectors import Sector, sectors
from fingerprints.report import refuse_control_chars

router = APIRouter(prefix="/api/v1", tags=["admin"], responses=errors(*AUTHENTICATED))


@router.get("/sectors", response_model=list[Sector])
def list_sectors(_caller: AnalystDep) -> list[Sector]:
    """The Dutch vital sectors and their vital processes."""
    return list(sectors().values())


@router.get("/organisations", response_model=list[OrganisationPublic])
def list_organisations(session: SessionDep, audit: AuditDep) -> list[OrganisationPublic]:
    rows = session.exec(select(Organisation).order_by(Organisation.name)).all()
    audit.record(len(rows))
    return [OrganisationPublic.model_validate(r, from_attributes=True) for r in rows]


@router.post("/admin/organisations", status_code=201, response_model=OrganisationPublic, responses=errors(409))
def create_organisation(body: OrganisationCreate, session: SessionDep, _admin: AdminDep) -> OrganisationPublic:
    org = admin.create_organisation(session, name=body.name, sector=body.sector)
    session.commit()
    return OrganisationPublic.model_validate(org, from_attributes=True)


@router.post("/admin/enrollment-tokens", status_code=201, response_model=EnrollmentTokenPublic,
             responses=errors(404))
def create_enrollment_token(
    body: EnrollmentTokenCreate, session: SessionDep, _admin: AdminDep
) -> EnrollmentTokenPublic:
    """A token for enrolling agents into one site; shown once."""
    row, token = admin.create_enrollment_token(
        session, organisation_id=body.organisation_id, site=body.site,
        expires_in=timedelta(hours=body.expires_in_hours), max_uses=body.max_uses, note=body.note,
    )
    session.commit()
    return EnrollmentTokenPublic.model_validate({**row.model_dump(), "token": token})


@router.post("/admin/api-tokens", status_code=201, response_model=ApiTokenPublic)
def create_api_token(body: ApiTokenCreate, session: SessionDep, _admin: AdminDep) -> ApiTokenPublic:
    """An analyst (read-only) or admin token; shown once."""
    expires = None if body.expires_in_hours is None else timedelta(hours=body.expires_in_hours)
    row, token = admin.create_api_token(session, name=body.name, role=body.role, expires_in=expires)
    session.commit()
    return ApiTokenPublic.model_validate({**row.model_dump(), "token": token})


@router.delete("/admin/api-tokens/{token_id}", response_model=ApiTokenPublic, responses=errors(404))
def revoke_api_token(token_id: IdPath, session: SessionDep, _admin: AdminDep) -> ApiTokenPublic:
    row = admin.revoke_api_token(session, token_id=token_id)
    session.commit()
    return ApiTokenPublic.model_validate(row.model_dump())


AgentIdPath = Annotated[str, Path(max_length=36), AfterValidator(refuse_control_chars)]


@router.post("/admin/agents/{agent_id}/revoke", status_code=204, responses=errors(404))
def revoke_agent(agent_id: AgentIdPath, session: SessionDep, _admin: AdminDep) -> None:
    admin.revoke_agent(session, agent_id=agent_id)
    session.commit()


@router.get("/admin/enrollment-tokens", response_model=list[EnrollmentTokenPublic])
def list_enrollment_tokens(
    session: SessionDep, _admin: AdminDep,
    include_spent: bool = Query(default=False, description="also revoked, expired and used-up tokens"),
) -> list[EnrollmentTokenPublic]:
    """Enrollment tokens (never their secret), newest first; by default only those that can still enrol."""
    rows = admin.list_enrollment_tokens(session, include_spent=include_spent)
    return [EnrollmentTokenPublic.model_validate(r.model_dump()) for r in rows]


@router.delete("/admin/enrollment-tokens/{token_id}", response_model=EnrollmentTokenPublic, responses=errors(404))
def revoke_enrollment_token(token_id: IdPath, session: SessionDep, _admin: AdminDep) -> EnrollmentTokenPublic:
    """No agent can enrol with it any more (agents already enrolled keep their own keys)."""
    row = admin.revoke_enrollment_token(session, token_id=token_id)
    session.commit()
    return EnrollmentTokenPublic.model_validate(row.model_dump())


@router.get("/admin/api-tokens", response_model=list[ApiTokenPublic])
def list_api_tokens(session: SessionDep, _admin: AdminDep) -> list[ApiTokenPublic]:
    """API tokens (never their secret) with role, expiry and revocation."""
    return [ApiTokenPublic.model_validate(r.model_dump()) for r in admin.list_api_tokens(session)]


@router.get("/admin/audit", response_model=AuditPage, responses=errors(422))
def read_audit(
    request: Request, session: SessionDep, _admin: AdminDep,
    since: QueryTime | None = Query(default=None, description="rows at or after this time"),
    until: QueryTime | None = Query(default=None, description="rows before this time"),
    token_name: str | None = Query(default=None, max_length=200),
    route: str | None = Query(default=None, max_length=200, description="the route template, e.g. /api/v1/devices"),
    status: int | None = Query(default=None, ge=100, le=599),
    refused: bool | None = Query(default=None, description="only answers of 400 and above (true) or below (false)"),
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """The audit log, newest first: every analyst request, admin action and refused request."""
    reject_unknown_params(request, {"since", "until", "token_name", "route", "status", "refused", "before_id",
                                    "limit"})
    rows = audit.search(session, since=since, until=until, token_name=token_name, route=route, status=status,
                        refused=refused, before_id=before_id, limit=limit + 1)
    items = [AuditEntry.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return AuditPage(items=items, next_before_id=items[-1].id if len(rows) > limit else None)


@router.get("/admin/audit/verify", response_model=AuditVerification)
def verify_audit(session: SessionDep, _admin: AdminDep) -> AuditVerification:
    """Walk the audit log's hash chain: intact, or the first row that was changed or follows a removed one."""
    v = audit.verify(session)
    return AuditVerification(intact=v.intact, rows=v.rows, chained=v.chained, unchained_before=v.unchained_before,
                             broken_at=v.broken_at, problem=v.problem)
