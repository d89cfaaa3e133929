"""Identification rules as data (data/rules/*.toml): the model, the loader, matching and the self-test.

A rule names the kinds it reads, a regex with named groups for the fields it extracts (product, version, firmware,
model, vendor, device_type), the vendor it concludes (a catalogue id, or the `vendor` group resolved through the
catalogue's aliases), a confidence, and real examples with the exact fields they must yield. Inputs are cut to
MAX_INPUT characters before matching, and `check` refuses patterns that backtrack badly on adversarial strings.
"""

from __future__ import annotations

import functools
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fingerprints.kinds import KIND_NAMES

RULES_DIR = Path(__file__).parent / "data" / "rules"
MAX_INPUT = 4096
FIELDS = ("vendor", "product", "version", "firmware", "model", "device_type")
#: A pattern that needs longer than this on any adversarial input is refused by `check`.
REDOS_BUDGET_S = 0.1
# A group that repeats and contains a repeat: the classic shape of exponential backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*](?:[^()\\]|\\.)*\)[+*{]")


class RuleExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str
    kind: str | None = None
    expect: dict[str, str] = Field(description="exactly the fields the rule must yield for this value")
    source: str = ""


class Rule(BaseModel):
    """One declarative identification rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kinds: list[str] = Field(min_length=1)
    pattern: str
    flags: str = Field(default="i", pattern=r"^[is]*$", description="i = ignore case, s = dot matches newline")
    vendor: str | None = None
    product: str | None = None
    device_type: str | None = None
    confidence: float = Field(ge=0.05, le=1.0)
    role: str = Field(default="device", pattern=r"^(device|component|software|os)$")
    examples: list[RuleExample] = Field(min_length=1)
    note: str = ""

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        unknown = [k for k in value if k not in KIND_NAMES]
        if unknown:
            raise ValueError(f"unknown kinds {unknown}")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            rx = re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        unknown = set(rx.groupindex) - set(FIELDS)
        if unknown:
            raise ValueError(f"named groups {sorted(unknown)} are not fields; use {FIELDS}")
        return value

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        flags = (re.IGNORECASE if "i" in self.flags else 0) | (re.DOTALL if "s" in self.flags else 0)
        return re.compile(self.pattern, flags)

    @functools.cached_property
    def prefilter(self) -> tuple[tuple[str, ...], bool] | None:
        """Literals one of which every match contains, and whether to look for them in the lower-cased value; None
        when the pattern has none usable. A substring test is far cheaper than a regex search that would fail.
        Usually one literal; for a pattern that is an alternation of model families ("(?:DS|iDS)-2CD…|IPC-…"),
        one literal per branch."""
        import re._parser as sre_parse

        try:
            parsed = sre_parse.parse(self.pattern, self.regex.flags)
        except (re.error, RecursionError):
            return None
        icase = bool(parsed.state.flags & re.IGNORECASE)
        found = _required_literals(parsed.data, icase)
        return (found, icase) if found else None

    def apply(self, value: str, lowered: str | None = None) -> dict[str, str] | None:
        """The fields this rule extracts from `value` (vendor as written or the rule's id), or None.

        `lowered` is `value.lower()`, when the caller has it already.
        """
        prefilter = self.prefilter
        if prefilter is not None:
            literals, icase = prefilter
            text = (lowered if lowered is not None else value.lower()) if icase else value
            if not any(literal in text for literal in literals):
                return None
        return self.extract(value)

    def extract(self, value: str) -> dict[str, str] | None:
        """`apply` without the prefilter, for callers that checked it themselves (the hot path)."""
        m = self.regex.search(value[:MAX_INPUT])
        if m is None:
            return None
        out = {k: v.strip() for k, v in m.groupdict().items() if v and v.strip()}
        for name in ("vendor", "product", "device_type"):
            fixed = getattr(self, name)
            if fixed and name not in out:
                out[name] = fixed
        return out


def _required_literals(items: Any, icase: bool) -> tuple[str, ...]:
    """Literals one of which every match of the parsed pattern `items` contains: its longest required literal run;
    failing that, one run per branch of the first required alternation whose every branch has one."""
    import re._constants as sre_c

    from fingerprints.registries.nmap_probes import _literal_runs

    def usable(runs: list[str]) -> list[str]:
        return [r for r in runs if len(r) >= 2 and (r.isascii() or not icase)]

    runs = usable(_literal_runs(items, icase))
    if runs:
        return (max(runs, key=len),)
    for op, av in items:  # each top-level item is entered once by every match (repeats are not looked into)
        if op is sre_c.BRANCH:
            per_branch = [usable(_literal_runs(branch.data, icase)) for branch in av[1]]
            if per_branch and all(per_branch):
                return tuple(dict.fromkeys(max(r, key=len) for r in per_branch))
        elif op is sre_c.SUBPATTERN and (inner := _required_literals(av[-1].data, icase)):
            return inner
    return ()


@dataclass
class RuleSet:
    rules: list[Rule]
    by_kind: dict[str, list[Rule]]
    faults: list[str]


def load_rules(rules_dir: Path | None = None) -> RuleSet:
    """Read every rules file; invalid rules are left out and reported in `faults`."""
    rules_dir = rules_dir or RULES_DIR
    rules: list[Rule] = []
    faults: list[str] = []
    seen: set[str] = set()
    for path in sorted(rules_dir.glob("*.toml")):
        try:
            with path.open("rb") as fh:
                doc = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            faults.append(f"{path.name}: cannot read TOML: {exc}")
            continue
        for n, raw in enumerate(doc.get("rule", [])):
            try:
                rule = Rule.model_validate(raw)
            except ValidationError as exc:
                msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
                faults.append(f"{path.name}: rule #{n + 1} ({raw.get('id', '?')}): {msg}")
                continue
            if rule.id in seen:
                faults.append(f"{path.name}: duplicate rule id {rule.id!r}")
                continue
            seen.add(rule.id)
            rules.append(rule)
    by_kind: dict[str, list[Rule]] = {}
    for rule in rules:
        for kind in rule.kinds:
            by_kind.setdefault(kind, []).append(rule)
    for kind_rules in by_kind.values():
        kind_rules.sort(key=lambda r: -r.confidence)
    return RuleSet(rules, by_kind, faults)


@functools.cache
def rule_set() -> RuleSet:
    """The packaged rules, loaded once."""
    return load_rules()


def adversarial_inputs() -> list[str]:
    """Long strings that make badly written patterns backtrack for a long time."""
    n = MAX_INPUT
    return [
        "a" * n,
        "A" * (n - 1) + "!",
        " " * n,
        "\t " * (n // 2) + "x",
        "1." * (n // 2),
        "0" * n,
        "-" * n,
        "/" * n,
        "a1" * (n // 2),
        "SSH-2.0-" + "x" * (n - 8),
        "HTTP/1.1 " + "a " * ((n - 9) // 2),
        "=" * n,
        "CN=" + "a," * (n // 2),
    ]


def check_redos(rule: Rule) -> str | None:
    """A reason to refuse the rule's pattern as a backtracking risk, or None."""
    from fingerprints.registries.nmap_probes import backtracking_risk

    if _NESTED_QUANTIFIER.search(rule.pattern) or backtracking_risk(rule.pattern):
        return "nested quantifier (a repeated group that contains a repeat)"
    for text in adversarial_inputs():
        spent = 0.0
        for _ in range(3):  # the best of three, so that a busy machine does not fail a sound pattern
            start = time.perf_counter()
            rule.regex.search(text)
            spent = time.perf_counter() - start
            if spent <= REDOS_BUDGET_S:
                break
        if spent > REDOS_BUDGET_S:
            return f"took {spent * 1000:.0f} ms on an adversarial input of {len(text)} characters"
    return None
