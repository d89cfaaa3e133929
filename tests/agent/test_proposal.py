"""The collector proposes, the agent's operator decides: a proposal is applied only inside the ceiling of the local
configuration, and by default that ceiling is the configuration itself, so the collector can only narrow a scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.proposal import decide
from agent.settings import AgentSettings
from fingerprints.report import Proposal


def settings(tmp_path: Path, **kw: object) -> AgentSettings:
    base: dict[str, object] = {"state_dir": tmp_path, "scope": ["198.18.0.0/16"], "exclude": ["198.18.9.9/32"],
                               "profile": "safe", "interval": 86400.0}
    base.update(kw)
    return AgentSettings(**base)  # type: ignore[arg-type]


def proposal(**kw: object) -> Proposal:
    return Proposal.model_validate({"version": 7, **kw})


def test_without_a_proposal_the_agent_runs_its_own_configuration(tmp_path):
    plan = decide(settings(tmp_path), None)
    assert [str(n) for n in plan.scope.include] == ["198.18.0.0/16"] and plan.profile == "safe"
    assert plan.answer is None


def test_a_narrower_scope_gentler_profile_and_longer_interval_are_applied(tmp_path):
    plan = decide(settings(tmp_path), proposal(scope=["198.18.1.0/24"], profile="passive", interval_seconds=172800))
    assert [str(n) for n in plan.scope.include] == ["198.18.1.0/24"]
    assert plan.profile == "passive" and plan.interval == 172800
    assert plan.answer is not None and plan.answer.state == "applied" and plan.answer.version == 7
    # the operator's own exclusion stays
    assert not plan.scope.contains("198.18.9.9") and plan.scope.contains("198.18.1.5") is True


def test_by_default_the_collector_cannot_widen_anything(tmp_path):
    plan = decide(settings(tmp_path), proposal(scope=["10.0.0.0/8"], profile="standard", interval_seconds=3600))
    assert [str(n) for n in plan.scope.include] == ["198.18.0.0/16"]
    assert plan.profile == "safe" and plan.interval == 86400
    assert plan.answer is not None and plan.answer.state == "refused"
    assert "refused scope 10.0.0.0/8" in plan.answer.message and "refused profile standard" in plan.answer.message
    assert "refused interval 3600 s" in plan.answer.message
    assert "198.18.0.0/16" not in plan.answer.message  # the answer never tells the collector the operator's ceiling


def test_the_part_inside_the_ceiling_is_applied_and_the_rest_refused(tmp_path):
    s = settings(tmp_path, allowed_scope=["198.18.0.0/16", "198.19.50.0/24"], allowed_profile="standard",
                 min_interval=3600)
    plan = decide(s, proposal(scope=["198.19.50.0/25", "172.16.0.0/12", "2001:db8::/64"], profile="standard",
                              interval_seconds=1800, exclude=["198.19.50.1/32"]))
    assert [str(n) for n in plan.scope.include] == ["198.19.50.0/25"]
    assert not plan.scope.contains("198.19.50.1") and not plan.scope.contains("198.18.9.9")
    assert plan.profile == "standard" and plan.interval == 86400
    assert plan.answer is not None and plan.answer.state == "partly"
    assert plan.refused == ["scope 172.16.0.0/12, 2001:db8::/64: outside the ranges this agent's operator allows",
                            "interval 1800 s: shorter than this agent's operator allows"]


def test_a_proposed_scope_larger_than_max_hosts_is_refused(tmp_path):
    plan = decide(settings(tmp_path, max_hosts=100), proposal(scope=["198.18.0.0/24"]))
    assert [str(n) for n in plan.scope.include] == ["198.18.0.0/16"]
    assert plan.answer is not None and plan.answer.state == "refused" and "100 hosts" in plan.answer.message


def test_an_empty_proposal_returns_the_agent_to_its_own_configuration(tmp_path):
    plan = decide(settings(tmp_path), proposal())
    assert [str(n) for n in plan.scope.include] == ["198.18.0.0/16"] and plan.profile == "safe"
    assert plan.answer is not None and plan.answer.state == "applied" and "own configuration" in plan.answer.message


@pytest.mark.parametrize("bad", [{"scope": []}, {"profile": "aggressive"}, {"interval_seconds": 5},
                                 {"scope": ["example.org"]}, {"version": 0}, {"surprise": True}])
def test_a_malformed_proposal_is_not_a_proposal(bad):
    with pytest.raises(ValueError):
        Proposal.model_validate({"version": 1, **bad})
