"""Organisations, sites, enrollment and API tokens, and agent enrolment (keyword-only, session first)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from collector.errors import ApiError
from collector.models import Agent, ApiToken, EnrollmentToken, Organisation, Site, utcnow
from collector.schemas import Role
from collector.sectors import sectors
from collector.security import new_credential, parse_credential, verify


def create_organisation(session: Session, *, name: str, sector: str) -> Organisation:
    """A new organisation in a known sector; 409 when the name is taken."""
    if sector not in sectors():
        raise ApiError(422, "unknown_sector", f"unknown sector {sector!r}; one of: {', '.join(sectors())}")
    org = Organisation(name=name.strip(), sector=sector, created_at=utcnow())
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ApiError(409, "organisation_exists", f"an organisation named {name!r} exists") from exc
    return org


def get_organisation(session: Session, *, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise ApiError(404, "organisation_not_found", f"no organisation {organisation_id}")
    return org


def find_organisation(session: Session, *, name: str) -> Organisation | None:
    return session.exec(select(Organisation).where(Organisation.name == name)).first()


def get_or_create_site(session: Session, *, organisation_id: int, name: str) -> Site:
    site = session.exec(
        select(Site).where(Site.organisation_id == organisation_id, Site.name == name)
    ).first()
    if site is None:
        site = Site(organisation_id=organisation_id, name=name, created_at=utcnow())
        session.add(site)
        session.flush()
    return site


def create_enrollment_token(
    session: Session, *, organisation_id: int, site: str, expires_in: timedelta, max_uses: int, note: str = ""
) -> tuple[EnrollmentToken, str]:
    """A token that enrols up to `max_uses` agents into one site until it expires; the token is returned once."""
    get_organisation(session, organisation_id=organisation_id)
    site_row = get_or_create_site(session, organisation_id=organisation_id, name=site)
    cred = new_credential("enrollment")
    now = utcnow()
    row = EnrollmentToken(
        lookup=cred.lookup, secret_hash=cred.secret_hash, organisation_id=organisation_id,
        site_id=site_row.id or 0, note=note, max_uses=max_uses, created_at=now, expires_at=now + expires_in,
    )
    session.add(row)
    session.flush()
    return row, cred.token


def create_api_token(
    session: Session, *, name: str, role: str, expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """An analyst (read) or admin token; the token is returned once."""
    if role not in get_args(Role):
        raise ApiError(422, "unknown_role", f"role must be one of {', '.join(get_args(Role))}")
    cred = new_credential("api")
    now = utcnow()
    row = ApiToken(
        lookup=cred.lookup, secret_hash=cred.secret_hash, name=name, role=role, created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )
    session.add(row)
    session.flush()
    return row, cred.token


def _revoke(session: Session, row: ApiToken | Agent | EnrollmentToken | None, reason: str, message: str) -> Any:
    if row is None:
        raise ApiError(404, reason, message)
    row.revoked_at = row.revoked_at or utcnow()  # revoking twice keeps the first moment
    session.add(row)
    session.flush()
    return row


def revoke_api_token(session: Session, *, token_id: int) -> ApiToken:
    row: ApiToken = _revoke(session, session.get(ApiToken, token_id), "token_not_found", f"no API token {token_id}")
    return row


def revoke_enrollment_token(session: Session, *, token_id: int) -> EnrollmentToken:
    row: EnrollmentToken = _revoke(session, session.get(EnrollmentToken, token_id), "token_not_found",
                                   f"no enrollment token {token_id}")
    return row


def list_enrollment_tokens(session: Session, *, include_spent: bool = False) -> list[EnrollmentToken]:
    """Enrollment tokens, newest first; by default only those that could still enrol an agent."""
    rows = list(session.exec(select(EnrollmentToken).order_by(EnrollmentToken.id.desc())).all())  # type: ignore[union-attr]
    if include_spent:
        return rows
    now = utcnow()
    return [r for r in rows if r.revoked_at is None and r.expires_at > now and r.uses < r.max_uses]


def list_api_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(ApiToken.id)).all())  # type: ignore[arg-type]


def revoke_agent(session: Session, *, agent_id: str) -> Agent:
    row: Agent = _revoke(session, session.get(Agent, agent_id), "agent_not_found", f"no agent {agent_id}")
    return row


def enroll_agent(session: Session, *, token: str, hostname: str, version: str) -> tuple[Agent, str]:
    """Spend one use of an enrollment token on a new agent; returns the agent and its key (shown once)."""
    import uuid

    parsed = parse_credential(token)
    if parsed is None or parsed.kind != "enrollment":
        raise ApiError(401, "invalid_enrollment_token", "that is not an enrollment token (they start with hke_)")
    row = session.exec(select(EnrollmentToken).where(EnrollmentToken.lookup == parsed.lookup)).first()
    if row is None or not verify(parsed, row.secret_hash):
        raise ApiError(401, "invalid_enrollment_token", "unknown enrollment token; ask the collector's admin")
    now = utcnow()
    if row.revoked_at is not None:
        raise ApiError(401, "enrollment_token_revoked", "this enrollment token was revoked")
    if row.expires_at <= now:
        raise ApiError(401, "enrollment_token_expired", "this enrollment token has expired; ask for a new one")
    # Spend a use atomically, so that concurrent enrolments cannot exceed max_uses.
    spent = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == row.id, EnrollmentToken.uses < EnrollmentToken.max_uses)  # type: ignore[arg-type]
        .values(uses=EnrollmentToken.uses + 1)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(401, "enrollment_token_used_up", "this enrollment token has no uses left")
    cred = new_credential("agent")
    agent = Agent(
        id=str(uuid.uuid4()), lookup=cred.lookup, secret_hash=cred.secret_hash,
        organisation_id=row.organisation_id, site_id=row.site_id, enrollment_token_id=row.id,
        hostname=hostname, version=version, created_at=now,
    )
    session.add(agent)
    session.flush()
    return agent, cred.token
