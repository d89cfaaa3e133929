"""Rules as data: every packaged rule's examples, and the refusal of patterns that backtrack."""

from __future__ import annotations

import time

import pytest

from fingerprints.check import check_rule_examples
from fingerprints.kinds import KIND_NAMES
from fingerprints.rules import MAX_INPUT, Rule, adversarial_inputs, check_redos, rule_set

RULES = rule_set().rules


def test_rules_load_without_faults() -> None:
    assert rule_set().faults == []
    assert len(RULES) >= 60


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_examples(rule: Rule) -> None:
    assert check_rule_examples(rule) == []


def test_every_kind_is_covered_by_rules_or_a_registry() -> None:
    from fingerprints.analyse import Analyser

    registry_kinds = {k for k in KIND_NAMES if hasattr(Analyser, "_kind_" + k.replace(".", "_"))}
    alias_kinds = {"upnp.manufacturer", "lldp.sysname", "http.favicon_md5"}
    # Recorded as evidence for analysts and for lookups in public databases (Shodan indexes favicons by this
    # hash); the catalogue has no list of them yet, so nothing reads them
    evidence_kinds = {"http.favicon_mmh3"}
    covered = {k for r in RULES for k in r.kinds} | registry_kinds | alias_kinds | evidence_kinds
    assert KIND_NAMES - covered == set()


def _rule(pattern: str) -> Rule:
    return Rule.model_validate({"id": "t", "kinds": ["http.server"], "pattern": pattern, "confidence": 0.5,
                                "examples": [{"value": "x", "expect": {}}]})


def test_exponential_patterns_are_refused() -> None:
    assert check_redos(_rule(r"^(a+)+$")) is not None
    assert check_redos(_rule(r"^(\w+\s?)*$")) is not None
    assert check_redos(_rule(r"^Server: (?P<product>[\w-]{1,40})")) is None


def test_packaged_rules_are_fast_on_adversarial_input() -> None:
    for text in adversarial_inputs():
        start = time.perf_counter()
        for rule in RULES:
            rule.apply(text * 4)  # longer than MAX_INPUT: apply() cuts it
        assert time.perf_counter() - start < 1.0, text[:20]
    assert len(adversarial_inputs()[0]) == MAX_INPUT


def test_rule_with_unknown_group_is_rejected() -> None:
    with pytest.raises(ValueError, match="not fields"):
        _rule(r"(?P<colour>red)")


def test_the_prefilter_never_rules_out_a_value_the_pattern_matches() -> None:
    """Every rule's prefilter (one literal, or one per branch of an alternation of model families) must let through
    every example and adversarial input its regex matches: a prefilter that drops a match loses a vendor."""
    from fingerprints.rules import adversarial_inputs, rule_set

    rules = rule_set().rules
    assert sum(r.prefilter is not None for r in rules) >= 0.9 * len(rules)
    assert any(r.prefilter is not None and len(r.prefilter[0]) > 1 for r in rules)  # alternations are indexed
    for rule in rules:
        values = [e.value for e in rule.examples] + adversarial_inputs()
        for value in values:
            if rule.regex.search(value[:4096]):
                assert rule.apply(value) is not None, (rule.id, value[:80])
