"""Audit of what the per-route Auditor cannot see: every admin action (whatever its answer) and every refused
request (401, 403, 413, 429) on any route — who (the verified caller, else the credential's public lookup part,
never its secret), route, status, reason, time.

A pure ASGI middleware: it looks at the answer's status line and, for a refusal, at its small JSON body for the
reason, and passes every byte on untouched; requests it need not audit (an agent's report, an analyst's read that
the route audits itself) cost it one dictionary lookup. The row is written after the answer has gone, in a worker
thread, so a slow audit write never holds a response.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector import audit
from collector.security import parse_credential

log = logging.getLogger("herkomst.collector.audit")

#: Refusals worth a row on any route: someone without the right credential, or pushing too much.
AUDITED_REFUSALS = frozenset({401, 403, 413, 429})
ADMIN_PREFIX = "/api/v1/admin/"
_BODY_PEEK = 4096


def _who(scope: Scope) -> tuple[int | None, str, str]:
    state = scope.get("state", {})
    caller = state.get("caller")
    if caller is not None:
        return caller.token_id, caller.name, caller.role
    if state.get("agent_name"):
        return None, str(state["agent_name"]), "agent"
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            parsed = parse_credential(token.strip()[:300]) if scheme.lower() == "bearer" else None
            if parsed is not None:
                return None, f"unverified {parsed.kind} credential {parsed.lookup[:12]}", "none"
            return None, "a malformed credential", "none"
    return None, "anonymous", "none"


class AuditTrail:
    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = b""

        async def watch(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400 and len(body) < _BODY_PEEK:
                body += message.get("body", b"")[:_BODY_PEEK]
            await send(message)

        await self.app(scope, receive, watch)
        path: str = scope.get("path", "")
        state: dict[str, Any] = scope.get("state", {})
        if state.get("audited") or not (path.startswith(ADMIN_PREFIX) or status in AUDITED_REFUSALS):
            return
        reason = ""
        if status >= 400:
            try:
                reason = str(json.loads(body)["error"]["reason"])
            except (ValueError, KeyError, TypeError):
                reason = f"http_{status}"
        route = getattr(scope.get("route"), "path", path)
        query = json.dumps(sorted((k, v) for k, v in _query_items(scope)))
        token_id, name, role = _who(scope)
        try:
            await anyio.to_thread.run_sync(self._write, token_id, name, role, scope.get("method", ""), str(route),
                                           query, status, reason)
        except Exception:  # the answer has gone; losing the row must not crash the server, but must be seen
            log.exception("could not write the audit row for %s %s (%s)", scope.get("method"), path, status)

    def _write(self, token_id: int | None, name: str, role: str, method: str, route: str, query: str, status: int,
               reason: str) -> None:
        with Session(self.engine) as session:
            audit.append(session, token_id=token_id, token_name=name, role=role, method=method, route=route,
                         query=query, status=status, reason=reason)


def _query_items(scope: Scope) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    raw = scope.get("query_string", b"").decode("latin-1")[:2000]
    return parse_qsl(raw, keep_blank_values=True)
