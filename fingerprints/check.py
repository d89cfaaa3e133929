"""`herkomst fingerprint check`: validate all data (catalogue, policy, rules and their examples, registries).

Returns every fault found rather than stopping at the first, so one run tells the data's authors all they must fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fingerprints.aliases import alias_index, normalise
from fingerprints.catalogue import Catalogue, load_catalogue
from fingerprints.identification import Obs
from fingerprints.policy import PolicyError, load_policy
from fingerprints.rules import FIELDS, Rule, RuleSet, check_redos, load_rules


@dataclass
class CheckResult:
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults


def check_rule_examples(rule: Rule) -> list[str]:
    """Faults of one rule's examples: each must match (or, with an empty `expect`, must not) with exactly its fields."""
    faults = []
    for ex in rule.examples:
        if ex.kind is not None and ex.kind not in rule.kinds:
            faults.append(f"rule {rule.id}: example kind {ex.kind!r} is not one of the rule's kinds")
        got = rule.apply(ex.value)
        if not ex.expect:
            if got is not None:
                faults.append(f"rule {rule.id}: negative example {ex.value[:60]!r} matched, yielding {got}")
            continue
        if got is None:
            faults.append(f"rule {rule.id}: example {ex.value[:80]!r} does not match")
        elif got != ex.expect:
            faults.append(f"rule {rule.id}: example {ex.value[:60]!r} yields {got}, expected {ex.expect}")
        bad = set(ex.expect) - set(FIELDS)
        if bad:
            faults.append(f"rule {rule.id}: example expects unknown fields {sorted(bad)}")
    return faults


def check_examples_end_to_end(rules: RuleSet, cat: Catalogue) -> list[str]:
    """Faults where a rule's positive example, identified alone through the whole engine (every rule, nmap, the
    registries, aliases), does not come out as the example's vendor: the rule is shadowed by another or never
    reached, and would be dead in the field although its own regex matches."""
    from fingerprints.engine import Engine  # the engine imports this package's modules; check is a leaf

    engine, aliases, faults = Engine(cat, rules), alias_index(cat), []
    for rule in rules.rules:
        for ex in rule.examples:
            want = ex.expect.get("vendor")
            if not want:
                continue
            want = want if cat.get(want) else aliases.resolve_name(want) or want
            ident = engine.identify([Obs(ex.kind or rule.kinds[0], ex.value)])
            if want != ident.vendor_id and want not in ident.oem_makers and \
                    want not in {c.vendor_id for c in ident.components}:
                faults.append(f"rule {rule.id}: example {ex.value[:60]!r} ({ex.kind or rule.kinds[0]}) is identified "
                              f"as {ident.vendor_id!r}, not {want!r}: another rule or source outweighs it")
    return faults


def check_rules(rules: RuleSet, cat: Catalogue) -> list[str]:
    faults = list(rules.faults)
    aliases = alias_index(cat)
    for rule in rules.rules:
        faults += check_rule_examples(rule)
        reason = check_redos(rule)
        if reason:
            faults.append(f"rule {rule.id}: pattern refused as a backtracking risk: {reason}")
        if rule.vendor and not cat.get(rule.vendor) and not aliases.resolve_name(rule.vendor):
            faults.append(f"rule {rule.id}: vendor {rule.vendor!r} is neither a catalogue id nor a catalogue alias")
    return faults


#: English word lists (Debian's wamerican and wbritish), read when installed.
DICTIONARIES = (Path("/usr/share/dict/american-english"), Path("/usr/share/dict/british-english"))


def dictionary_words(paths: tuple[Path, ...] = DICTIONARIES) -> set[str] | None:
    """Every word of the installed word lists, normalised as aliases are; None when none is installed."""
    words: set[str] = set()
    found = False
    for path in paths:
        if not path.exists():
            continue
        found = True
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line and "'" not in line:
                words.add(normalise(line))
    return words if found else None


def check_ordinary_words(cat: Catalogue, countries: frozenset[str], words: set[str]) -> list[str]:
    """A free-text alias of a vendor from a listed country that is an ordinary English word would flag ordinary text
    ("Hexing" is also a word): it must be in [matching] ordinary_words, or in earned_words once reviewed."""
    faults = []
    index = alias_index(cat)
    reviewed = {normalise(w) for w in cat.earned_words}
    for key, vid in sorted(index.free.items()):
        vendor = cat.get(vid)
        if vendor is None or key not in words or key in reviewed:
            continue
        listed = vendor.hq.country in countries or any(o.country in countries for o in vendor.owners)
        if listed:
            faults.append(f"catalogue: alias {key!r} of {vid} ({vendor.hq.country}) is an English word; add it to "
                          "[matching] ordinary_words in catalogue.toml (or to earned_words if the word means only "
                          "this company)")
    return faults


def check_registry_claims(cat: Catalogue, pens: Mapping[int, str]) -> list[str]:
    """Every enterprise number a vendor claims must be registered, in IANA's registry as installed, to a name that
    resolves to that vendor: a wrong claim makes one maker's devices another's (and may flag them)."""
    faults = []
    index = alias_index(cat)
    for vendor in cat.vendors.values():
        for pen in vendor.pen:
            name = pens.get(pen)
            if name is None:
                faults.append(f"catalogue: {vendor.id} claims enterprise number {pen}, which IANA's registry does "
                              "not hold; drop the claim")
                continue
            resolved = index.resolve_name(name)
            if resolved != vendor.id:
                whose = f"which resolves to {resolved!r}" if resolved else "which resolves to no vendor"
                faults.append(f"catalogue: {vendor.id} claims enterprise number {pen}, registered to {name!r} "
                              f"({whose}); make that name an alias of {vendor.id} (a former name?) or drop the claim")
    return faults


def check_list_ids(cat: Catalogue) -> list[str]:
    """Every public list a vendor is said to be on must be one the verdicts can name (fingerprints/lists.py)."""
    from fingerprints.lists import LIST_NAMES

    return [f"vendor {v.id}: unknown public list {m.list!r}; name it in fingerprints/lists.py LIST_NAMES"
            for v in cat.vendors.values() for m in v.lists if m.list not in LIST_NAMES]


def run_check(data_dir: Path | None = None) -> CheckResult:
    """Validate the packaged data (or another data directory with the same layout)."""
    result = CheckResult()
    cat = load_catalogue(data_dir)
    result.faults += [f"catalogue: {f}" for f in cat.faults]
    result.notes.append(f"catalogue {cat.version}: {len(cat.vendors)} vendors")
    result.faults += check_list_ids(cat)
    countries: frozenset[str] = frozenset()
    try:
        policy = load_policy((data_dir / "policy.toml") if data_dir else None)
        countries = frozenset(policy.countries)
        result.notes.append(f"policy {policy.version}: {', '.join(policy.countries)}")
        if not policy.sources:
            result.faults.append("policy: no [[sources]]; the policy must say where it comes from")
    except PolicyError as exc:
        result.faults.append(f"policy: {exc}")
    words = dictionary_words()
    if words is None:
        result.notes.append("English word lists: not installed (apt install wamerican wbritish) — aliases that are "
                            "ordinary words were not checked")
    else:
        result.faults += check_ordinary_words(cat, countries, words)
        result.notes.append(f"English word lists: {len(words)} words checked against the free-text aliases")
    rules = load_rules((data_dir / "rules") if data_dir else None)
    result.faults += check_rules(rules, cat)
    kinds = sorted({k for r in rules.rules for k in r.kinds})
    result.notes.append(f"rules: {len(rules.rules)} rules, {sum(len(r.examples) for r in rules.rules)} examples, "
                        f"{len(kinds)} kinds")
    if data_dir is None:
        from fingerprints.registries.nmap_probes import nmap_database
        from fingerprints.registries.oui import oui_registry
        from fingerprints.registries.pen import pen_registry

        oui = oui_registry()
        result.notes.append(f"IEEE registries: {len(oui)} assignments from {len(oui.sources)} files")
        if not len(oui):
            result.faults.append("registries: no IEEE OUI data found (install netaddr or Debian's ieee-data)")
        pens = pen_registry()
        result.notes.append(f"IANA PENs: {len(pens)} (optional; wireshark-common)")
        if len(pens):
            result.faults += check_registry_claims(cat, pens)
            result.notes.append(f"enterprise numbers claimed by the catalogue: "
                                f"{sum(len(v.pen) for v in cat.vendors.values())}, each checked against IANA's")
        end_to_end = check_examples_end_to_end(rules, cat)
        result.faults += end_to_end
        result.notes.append("rule examples identified end to end through the engine: "
                            f"{'all as expected' if not end_to_end else f'{len(end_to_end)} not'}")
        db = nmap_database()
        if db is None:
            result.notes.append("nmap-service-probes: not installed (optional; apt install nmap)")
        else:
            s = db.stats
            result.notes.append(f"nmap-service-probes: {len(db.patterns)} usable of {s.patterns} patterns; "
                                f"{s.skipped_no_vendor_info} name no product, {s.uncompilable} do not compile, "
                                f"{s.unindexed} have no literal to index, "
                                f"{s.refused_backtracking} refused as backtracking risks")
    return result
