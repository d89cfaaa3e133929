"""Administration: organisations, enrollment tokens, API tokens, revocation. Admin tokens only."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AfterValidator
from sqlmodel import select

from collector import admin
from collector.api.deps import AdminDep, AnalystDep, AuditDep, SessionDep
from collector.api.paging import IdPath
from collector.api.responses import AUTHENTICATED, errors
from collector.models import Organisation
from collector.schemas import (
    ApiTokenCreate,
    ApiTokenPublic,
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
