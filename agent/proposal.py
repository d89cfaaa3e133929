"""What the agent does with the collector's proposal: apply what lies inside its operator's ceiling, refuse the rest.

The operator's configuration is the ceiling, and by default it is the configuration itself: `allowed_scope`
(default: `scope`), `allowed_profile` (default: `profile`) and `min_interval` (default: `interval`). So unless the
operator widens the ceiling on purpose, the collector can only narrow the scan — a smaller scope, a gentler profile,
a longer interval — and never make the agent reach an address, send a probe or scan more often than its operator
allowed. Exclusions are always accepted (they only take away), and the operator's own exclusions always stay.

`decide` is pure and is run again at every cycle, so a ceiling the operator narrows later applies at once to a
proposal accepted before. The answer (applied, partly or refused, with which part and why) goes back with the next
heartbeat or report; it names the proposed networks but never the operator's ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.errors import ScopeError
from agent.scope import IPNetwork, Scope, parse_networks
from agent.settings import AgentSettings
from fingerprints.report import Proposal, ProposalAnswer

PROFILE_RANK = {"passive": 0, "safe": 1, "standard": 2}


@dataclass(frozen=True)
class Plan:
    """The scan the agent will run: its operator's settings with the accepted part of a proposal."""

    scope: Scope
    profile: str
    interval: float
    answer: ProposalAnswer | None = None
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _inside(net: IPNetwork, ceiling: list[IPNetwork]) -> bool:
    return any(net.version == c.version and net.subnet_of(c) for c in ceiling)  # type: ignore[arg-type]


def _describe(nets: list[IPNetwork]) -> str:
    return ", ".join(str(n) for n in nets)


def decide(settings: AgentSettings, proposal: Proposal | None, *, now: datetime | None = None) -> Plan:
    """The scan to run under this proposal: each proposed part is applied if it lies inside the ceiling, refused
    (keeping the operator's own setting) if not."""
    own_scope = Scope.parse(settings.scope, settings.exclude)
    if proposal is None:
        return Plan(own_scope, settings.profile, settings.interval)
    applied: list[str] = []
    refused: list[str] = []
    scope = own_scope
    exclude = list(own_scope.exclude)
    if proposal.exclude:
        exclude += proposal.exclude
        applied.append(f"exclude {_describe(list(proposal.exclude))}")
    if proposal.scope is not None:
        ceiling = parse_networks(settings.allowed_scope or settings.scope)
        inside = [n for n in proposal.scope if _inside(n, ceiling)]
        outside = [n for n in proposal.scope if not _inside(n, ceiling)]
        if outside:
            refused.append(f"scope {_describe(outside)}: outside the ranges this agent's operator allows")
        if inside:
            candidate = Scope(tuple(inside), tuple(exclude))
            try:
                sum(1 for _ in candidate.addresses(settings.max_hosts))
            except ScopeError:
                refused.append(f"scope {_describe(inside)}: more than the {settings.max_hosts} hosts this agent "
                               "scans at most")
            else:
                scope = candidate
                applied.append(f"scope {_describe(inside)}")
    if scope is own_scope:
        scope = Scope(own_scope.include, tuple(exclude))
    profile = settings.profile
    if proposal.profile is not None:
        ceiling_profile = settings.allowed_profile or settings.profile
        if PROFILE_RANK[proposal.profile] <= PROFILE_RANK[ceiling_profile]:
            profile = proposal.profile
            applied.append(f"profile {proposal.profile}")
        else:
            refused.append(f"profile {proposal.profile}: above the profile this agent's operator allows")
    interval = settings.interval
    if proposal.interval_seconds is not None:
        floor = settings.min_interval if settings.min_interval is not None else settings.interval
        if proposal.interval_seconds >= floor:
            interval = proposal.interval_seconds
            applied.append(f"interval {proposal.interval_seconds:g} s")
        else:
            refused.append(f"interval {proposal.interval_seconds:g} s: shorter than this agent's operator allows")
    if not applied and not refused:
        state, message = "applied", "no change proposed: the agent runs on its own configuration"
    else:
        state = "refused" if not applied else ("partly" if refused else "applied")
        message = "; ".join([f"applied {a}" for a in applied] + [f"refused {r}" for r in refused])
    answer = ProposalAnswer(version=proposal.version, state=state, message=message[:2000],  # type: ignore[arg-type]
                            answered_at=now or datetime.now(UTC))
    return Plan(scope, profile, interval, answer, applied, refused)
