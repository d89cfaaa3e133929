"""The policy as managed data (issue 12 item 2): which countries' vendors are flagged, stored with its version,
sources, validity and who set it.

The policy in force is the latest stored one whose `valid_from` has come; while none is stored, the shipped
`fingerprints/data/policy.toml` is (and `herkomst collector policy history` says so). Versions form one chain in
time: a new policy starts after the one before it, never inside it, so the policy that held on any date is exactly
one. Setting a policy changes nothing by itself: re-attribution (on the collector's start, in the background after
`POST /api/v1/admin/policy`, or `herkomst collector reattribute`) judges every device again and records each
change with reason "policy".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from collector.errors import ApiError, error_details
from collector.models import PolicyRecord, utcnow
from fingerprints.policy import Policy, default_policy

#: The verdict tables keep the policy version in 32 characters.
MAX_VERSION = 32


@dataclass(frozen=True)
class PolicyInForce:
    policy: Policy
    valid_from: datetime | None
    set_by: str
    stored: bool


def shipped() -> Policy:
    """The packaged policy, read once per process (fingerprints.default_policy)."""
    return default_policy()


def policy_in_force(session: Session, *, at: datetime | None = None) -> PolicyInForce:
    """The policy that holds at `at` (default now): the latest stored one begun by then, else the shipped one."""
    p = PolicyRecord.__table__.c  # type: ignore[attr-defined]
    row = session.execute(
        select(PolicyRecord).where(p.valid_from <= (at or utcnow())).order_by(p.valid_from.desc()).limit(1)
    ).scalars().first()
    if row is None:
        return PolicyInForce(shipped(), None, "shipped", False)
    return PolicyInForce(Policy.model_validate(row.document), row.valid_from, row.set_by, True)


def parse_policy(document: dict[str, Any]) -> Policy:
    """A policy document checked as a stored one must be: ISO 3166-1 countries, at least one source, a version
    that fits the verdict tables. Raises ApiError 422 with the reasons."""
    try:
        policy = Policy.model_validate(document)
    except ValidationError as exc:
        raise ApiError(422, "invalid_policy", "the policy does not validate", details=error_details(exc.errors())
                       ) from exc
    if len(policy.version) > MAX_VERSION:
        raise ApiError(422, "invalid_policy", f"the version is at most {MAX_VERSION} characters")
    if not policy.sources:
        raise ApiError(422, "policy_without_source",
                       "a policy needs at least one source (title, url, date): what it answers to")
    if len(set(policy.countries)) != len(policy.countries):
        raise ApiError(422, "invalid_policy", "a country is listed twice")
    return policy


def set_policy(session: Session, document: dict[str, Any], *, set_by: str, valid_from: datetime | None = None,
               note: str = "") -> PolicyRecord:
    """Store a new policy version (the caller commits). Refused with a reason: an invalid document, a version
    already stored, or a start inside the validity of one stored before (overlap)."""
    policy = parse_policy(document)
    now = utcnow()
    start = valid_from or now
    p = PolicyRecord.__table__.c  # type: ignore[attr-defined]
    if session.execute(select(p.id).where(p.version == policy.version)).first() is not None:
        raise ApiError(409, "policy_version_exists", f"policy version {policy.version!r} is stored already; give "
                       "the new policy a version of its own")
    latest = session.execute(select(p.version, p.valid_from).order_by(p.valid_from.desc()).limit(1)).first()
    if latest is not None and start <= latest.valid_from:
        raise ApiError(409, "policy_overlap", f"policy {latest.version!r} is valid from "
                       f"{latest.valid_from.isoformat()}; a new policy must start after it, not inside it")
    row = PolicyRecord(version=policy.version, document=policy.model_dump(mode="json"), valid_from=start,
                       set_at=now, set_by=set_by[:200], note=note)
    session.add(row)
    session.flush()
    return row


def history(session: Session) -> list[PolicyRecord]:
    """Every stored policy, newest first."""
    p = PolicyRecord.__table__.c  # type: ignore[attr-defined]
    return list(session.execute(select(PolicyRecord).order_by(p.valid_from.desc())).scalars())
