"""Named dependencies: the database session, the settings, and each kind of caller.

One request, one session, at most one pooled connection at a time: authentication reads the credential through the
request's session and then ends its transaction, which hands the connection back to the pool before the handler
runs (and before it waits for anything, e.g. its turn to store a report). The audit row is written through the
same session. Asking the pool for a second connection while holding one is what made every request wait on the
others once more requests came in than the pool had connections.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session, select

from collector import audit
from collector.errors import ApiError
from collector.metrics import Metrics
from collector.models import Agent, ApiToken, utcnow
from collector.security import CredentialKind, ParsedCredential, parse_credential, verify
from collector.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _bearer(request: Request, expected: CredentialKind) -> ParsedCredential:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_credentials", "send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    parsed = parse_credential(token)
    if parsed is None:
        raise ApiError(401, "invalid_credentials", "the token is not a Herkomst credential", headers=_CHALLENGE)
    if parsed.kind != expected:
        raise ApiError(403, "wrong_credential_kind", f"this endpoint needs an {expected} credential, not {parsed.kind}")
    return parsed


def _release(session: Session) -> None:
    """End the session's read transaction so that its connection goes back to the pool (loaded rows stay)."""
    session.commit()


def current_agent(request: Request, session: SessionDep) -> Agent:
    """The agent whose key signed this request."""
    parsed = _bearer(request, "agent")
    agent = session.exec(select(Agent).where(Agent.lookup == parsed.lookup)).first()
    _release(session)
    if agent is None or not verify(parsed, agent.secret_hash):
        raise ApiError(401, "invalid_credentials", "unknown agent key; enrol the agent again", headers=_CHALLENGE)
    request.state.agent_name = f"agent {agent.id}"  # for the audit of a refusal after authentication (e.g. 413)
    if agent.revoked_at is not None:
        raise ApiError(401, "credentials_revoked", "this agent's key was revoked", headers=_CHALLENGE)
    return agent


@dataclass(frozen=True)
class Caller:
    token_id: int
    name: str
    role: str


def _api_caller(request: Request, session: Session) -> Caller:
    parsed = _bearer(request, "api")
    row = session.exec(select(ApiToken).where(ApiToken.lookup == parsed.lookup)).first()
    _release(session)
    if row is None or not verify(parsed, row.secret_hash):
        raise ApiError(401, "invalid_credentials", "unknown API token", headers=_CHALLENGE)
    if row.revoked_at is not None:
        raise ApiError(401, "credentials_revoked", "this API token was revoked", headers=_CHALLENGE)
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise ApiError(401, "credentials_expired", "this API token has expired", headers=_CHALLENGE)
    assert row.id is not None
    return Caller(row.id, row.name, row.role)


#: Roles that may read analyst data. A `metrics` token reads /metrics and nothing else.
READERS = frozenset({"analyst", "admin"})


def current_analyst(request: Request, session: SessionDep) -> Caller:
    """An analyst or admin token (both may read)."""
    caller = _api_caller(request, session)
    request.state.caller = caller
    if caller.role not in READERS:
        raise ApiError(403, "forbidden", "this needs an analyst or admin token; a metrics token reads /metrics only")
    return caller


def current_metrics_reader(request: Request, session: SessionDep) -> Caller:
    """Any API token: metrics (the scraper's least privilege), analyst or admin."""
    return _api_caller(request, session)


def current_admin(request: Request, session: SessionDep) -> Caller:
    caller = _api_caller(request, session)
    request.state.caller = caller  # who the audit middleware names for this admin action (or its refusal)
    if caller.role != "admin":
        raise ApiError(403, "forbidden", "this needs an admin token")
    return caller


AgentDep = Annotated[Agent, Depends(current_agent)]
AnalystDep = Annotated[Caller, Depends(current_analyst)]
MetricsReaderDep = Annotated[Caller, Depends(current_metrics_reader)]
AdminDep = Annotated[Caller, Depends(current_admin)]


class Auditor:
    """Writes one audit row per analyst request: who, which route, which query, how many rows."""

    def __init__(self, request: Request, caller: AnalystDep, session: SessionDep) -> None:
        self.request = request
        self.caller = caller
        self.session = session

    def record(self, rows: int, status: int = 200) -> None:
        """Write the audit row (chained, collector/audit.py) in a transaction of its own on the request's session
        (its reads end here)."""
        query = json.dumps(sorted(self.request.query_params.multi_items()))
        route = getattr(self.request.scope.get("route"), "path", self.request.url.path)
        audit.append(self.session, token_id=self.caller.token_id, token_name=self.caller.name,
                     role=self.caller.role, method=self.request.method, route=str(route), query=query, rows=rows,
                     status=status)
        self.request.state.audited = True  # the audit middleware need not write another row


AuditDep = Annotated[Auditor, Depends(Auditor)]
