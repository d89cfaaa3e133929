"""nmap's service-probe database (nmap-service-probes) as a fast, lazily compiled banner matcher.

Each `match` line is parsed into its service, regex and version fields (p/ v/ i/ h/ o/ d/ cpe:/). Matching a banner
naively against all ~12,000 regexes is slow, so every pattern is indexed by one literal substring that any match must
contain (taken from the regex's parse tree). A banner is then checked only against the patterns of the services its
kind applies to, whose literal occurs in the banner: a set of the banner's trigrams finds the candidates, `in`
confirms the literal, and only then is the regex compiled (once) and run. Patterns without a usable literal are run
for their service every time; `stats` counts them, and patterns that Python cannot compile are skipped and counted.
"""

from __future__ import annotations

import functools
import marshal
import re
import re._constants as sre_c
import re._parser as sre_parse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from fingerprints.registries.cache import cached

DEFAULT_PATH = Path("/usr/share/nmap/nmap-service-probes")
MIN_LITERAL = 3
KEY_SPAN = 24
_FIELD_RE = re.compile(r"\s*(cpe:|[pvihod])([^\w\s])")
_SUBST_RE = re.compile(r"\$(\d)|\$P\((\d)\)|\$SUBST\((\d),\"([^\"]*)\",\"([^\"]*)\"\)")


@dataclass(frozen=True)
class NmapMatch:
    """One pattern's verdict on one banner, with $n substituted."""

    line: int
    service: str
    product: str | None
    version: str | None
    info: str | None
    hostname: str | None
    os: str | None
    device_type: str | None
    cpes: tuple[str, ...]


@dataclass
class _Pattern:
    line: int
    service: str
    regex: str
    flags: int
    fields: dict[str, str]
    cpes: list[str]
    literal: str | None  # required substring, lower-cased when the pattern ignores case
    icase: bool
    runs: list[str] = field(default_factory=list)  # every required literal run (the index picks one)


class PackedPatterns(Sequence[_Pattern]):
    """The patterns, stored as one marshal blob each plus the two fields the index reads on every match.

    12,000 patterns as Python objects take about 12 MB; packed they take about 3, and only the few patterns a
    banner's literals select are ever unpacked (the agent loads this next to scapy on small hosts).
    """

    __slots__ = ("_details", "_literals", "_services")

    def __init__(self, services: list[str], literals: list[str | None], details: list[bytes]) -> None:
        if not len(services) == len(literals) == len(details):
            raise ValueError("inconsistent packed patterns")
        self._services, self._literals, self._details = services, literals, details

    @classmethod
    def pack(cls, patterns: Iterable[_Pattern]) -> PackedPatterns:
        services, literals, details = [], [], []
        for p in patterns:
            services.append(sys.intern(p.service))
            literals.append(p.literal)
            details.append(marshal.dumps((p.line, p.regex, int(p.flags), p.fields, list(p.cpes), p.icase)))
        return cls(services, literals, details)

    def rows(self) -> tuple[list[str], list[str | None], list[bytes]]:
        return self._services, self._literals, self._details

    def literal(self, idx: int) -> str | None:
        return self._literals[idx]

    @overload
    def __getitem__(self, idx: int) -> _Pattern: ...

    @overload
    def __getitem__(self, idx: slice) -> list[_Pattern]: ...

    def __getitem__(self, idx: int | slice) -> _Pattern | list[_Pattern]:
        if isinstance(idx, slice):
            return [self[i] for i in range(*idx.indices(len(self)))]
        line, regex, flags, fields, cpes, icase = marshal.loads(self._details[idx])
        return _Pattern(line, self._services[idx], regex, flags, fields, cpes, self._literals[idx], icase)

    def __len__(self) -> int:
        return len(self._details)


@dataclass
class NmapStats:
    patterns: int = 0
    skipped_no_vendor_info: int = 0
    uncompilable: int = 0
    unindexed: int = 0
    compiled: int = 0
    refused_backtracking: int = 0


def _translate(pattern: str) -> str:
    """Perl/PCRE features Python's re lacks, rewritten; the rest is shared syntax (Python 3.11 has atomics)."""
    return (
        pattern.replace(r"\z", r"\Z")
        .replace(r"\h", r"[ \t]")
        .replace(r"\e", r"\x1b")
    )


def _literal_runs(items: Any, icase: bool) -> list[str]:
    """Literal substrings every match contains: runs of LITERAL nodes in the top-level sequence (and plain groups)."""
    runs: list[str] = []
    cur: list[str] = []
    for op, av in items:
        if op is sre_c.LITERAL:
            cur.append(chr(av))
            continue
        if op is sre_c.AT and av in (sre_c.AT_BEGINNING, sre_c.AT_BEGINNING_STRING):
            continue
        if cur:
            runs.append("".join(cur))
            cur = []
        if op is sre_c.SUBPATTERN:
            # A capturing or plain group is always entered once: its literals are required too.
            runs += _literal_runs(av[-1].data, icase)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT) and av[0] >= 1:
            runs += _literal_runs(av[2].data, icase)
        elif op is sre_c.ATOMIC_GROUP:
            runs += _literal_runs(av.data, icase)
    if cur:
        runs.append("".join(cur))
    return [r.lower() if icase else r for r in runs]


_TOKEN = re.compile(r"""
 (?P<esc>\\x[0-9a-fA-F]{2}|\\0[0-7]{0,2}|\\.)
|(?P<cls>\[\^?\]?(?:\\.|[^\]\\])*\])
|(?P<open>\((?:\?(?:[:=!>|]|<[=!]|P?<\w+>|P=\w+\)|\#[^)]*\)|[a-zA-Z-]+[:)]))?)
|(?P<close>\))
|(?P<quant>[*+?]|\{\d*(?:,\d*)?\})
|(?P<alt>\|)
|(?P<meta>[.^$])
|(?P<lit>[^\\\[\]()|.^$*+?{]+|[{\]])
""", re.X | re.S)
_ESC = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b"}

def _scan_literals(pattern: str) -> list[str] | None:
    """Required literal runs read straight off the pattern text (top level only; 3x faster than re's parser)."""
    runs: list[str] = []
    cur: list[str] = []
    depth = 0
    prev_quant = last_lit = False
    pos = 0
    for m in _TOKEN.finditer(pattern):
        if m.start() != pos:
            return None  # a character no token accounts for: malformed
        pos = m.end()
        kind, tok = m.lastgroup, m.group()
        if kind == "quant":
            if prev_quant:
                continue  # lazy/possessive suffix of the previous quantifier
            prev_quant = True
            if depth == 0 and last_lit and cur:
                optional = tok in ("?", "*") or tok.startswith("{0") or tok.startswith("{,")
                if optional:
                    cur.pop()
                runs.append("".join(cur))
                cur = []
            last_lit = False
            continue
        prev_quant = False
        if kind == "open":
            if tok.endswith(")") and tok != "(":
                continue  # (?i) and other complete flag groups
            if depth == 0 and cur:
                runs.append("".join(cur))
                cur = []
            depth += 1
            last_lit = False
            continue
        if kind == "close":
            depth -= 1
            last_lit = False
            if depth < 0:
                return None
            continue
        if depth > 0:
            continue
        if kind == "alt":
            return []
        chars = None
        if kind == "lit":
            chars = tok
        elif kind == "esc":
            c = tok[1]
            if c == "x":
                chars = chr(int(tok[2:], 16))
            elif c == "0":
                chars = chr(int(tok[1:], 8))
            elif c in _ESC:
                chars = _ESC[c]
            elif not c.isalnum():
                chars = c
        if chars is None:
            if cur:
                runs.append("".join(cur))
                cur = []
            last_lit = False
            continue
        cur.extend(chars)
        last_lit = True
    if depth or pos != len(pattern):
        return None  # unbalanced or malformed: leave the verdict to re's parser
    if cur:
        runs.append("".join(cur))
    return [r for r in runs if len(r) >= MIN_LITERAL]


# A repeated group whose body ends with a repeat: the necessary textual shape of an ambiguous nested repeat.
_QUANTIFIED_GROUP = re.compile(r"[+*?}]\)+(?:[*+]|\{\d*,)")
_REPEATS = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT)


def _ends(items: Any, last: bool) -> bool:
    """Whether a sequence begins (or ends) with a repeat, looking through groups."""
    if not items:
        return False
    op, av = items[-1] if last else items[0]
    if op in _REPEATS:
        return True
    if op is sre_c.SUBPATTERN:
        return _ends(av[-1].data, last)
    return False


def _ambiguous_repeat(items: Any) -> bool:
    """An unbounded repeat whose body starts and ends with a repeat, e.g. ([\\w.]+)+ or (\\w+\\s?)*.

    Such a body can split the same text in exponentially many ways, and a near-miss makes the regex engine try them
    all. A body that starts or ends with a literal (e.g. (?:[^\r\n]+\r\n)*) splits one way only.
    """
    for op, av in items:
        if op in _REPEATS:
            body = av[2].data
            if av[1] > 1 and _ends(body, last=False) and _ends(body, last=True):
                return True
            if _ambiguous_repeat(body):
                return True
        elif op is sre_c.SUBPATTERN:
            if _ambiguous_repeat(av[-1].data):
                return True
        elif op is sre_c.BRANCH:
            if any(_ambiguous_repeat(branch.data) for branch in av[1]):
                return True
        elif op is sre_c.ATOMIC_GROUP:
            continue  # atomic groups never backtrack into their body
    return False


def backtracking_risk(regex: str, flags: int = 0) -> bool:
    """True when the pattern has an ambiguous nested repeat (exponential backtracking on a near-miss)."""
    if not _QUANTIFIED_GROUP.search(regex):
        return False  # the cheap test: no group that ends in a repeat is itself repeated
    try:
        return _ambiguous_repeat(sre_parse.parse(regex, flags).data)
    except (re.error, RecursionError, OverflowError):
        return False


def _required_literals(regex: str, flags: int) -> list[str] | None:
    """Every literal run of at least MIN_LITERAL characters that a match must contain; None if it does not parse."""
    try:
        tree = sre_parse.parse(regex, flags)
    except (re.error, RecursionError, OverflowError):
        return None
    return [r for r in _literal_runs(tree.data, bool(flags & re.IGNORECASE)) if len(r) >= MIN_LITERAL]


def _choose_literal(runs: list[str], frequency: dict[str, int]) -> str | None:
    """The run fewest patterns share (e.g. 'Hikvision-Webs' rather than '\r\nServer: '), then the longest."""
    if not runs:
        return None
    return min(reversed(runs), key=lambda r: (frequency.get(r.lower(), 0), -len(r)))


def _split_fields(rest: str) -> tuple[dict[str, str], list[str]]:
    fields: dict[str, str] = {}
    cpes: list[str] = []
    pos = 0
    while pos < len(rest):
        m = _FIELD_RE.match(rest, pos)
        if not m:
            break
        name, delim = m.group(1), m.group(2)
        end = rest.find(delim, m.end())
        if end < 0:
            break
        value = rest[m.end() : end]
        pos = end + 1
        if pos < len(rest) and rest[pos] == "a":  # cpe:/.../a  (the 'a' flag)
            pos += 1
        if name == "cpe:":
            cpes.append(value)
        else:
            fields[name] = value
    return fields, cpes


def parse_probes(text: str) -> tuple[list[_Pattern], NmapStats]:
    """Parse the database text into patterns (only `match` lines that can name a product, OS, device or CPE)."""
    stats = NmapStats()
    patterns: list[_Pattern] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("match "):
            if line.startswith("softmatch "):
                stats.patterns += 1
                stats.skipped_no_vendor_info += 1  # softmatch names only a service, never a product
            continue
        stats.patterns += 1
        try:
            _, service, rest = line.split(" ", 2)
            delim = rest[1]
            end = rest.index(delim, 2)
        except (ValueError, IndexError):
            stats.uncompilable += 1
            continue
        regex = _translate(rest[2:end])
        tail = rest[end + 1 :]
        opts, _, info = tail.partition(" ")
        flags = re.ASCII | (re.IGNORECASE if "i" in opts else 0) | (re.DOTALL if "s" in opts else 0)
        fields, cpes = _split_fields(info)
        if not fields.get("p") and not cpes and not fields.get("d") and not fields.get("o"):
            stats.skipped_no_vendor_info += 1
            continue
        if backtracking_risk(regex, flags):
            stats.refused_backtracking += 1  # one crafted banner must not hang the engine
            continue
        runs = _scan_literals(regex)
        if runs is None:
            runs = _required_literals(regex, flags)  # unusual syntax: let re's own parser decide
        if runs is None:
            stats.uncompilable += 1
            continue
        if not runs:
            stats.unindexed += 1
        patterns.append(_Pattern(n, service, regex, flags, fields, cpes, None, bool(flags & re.IGNORECASE), runs))
    frequency: dict[str, int] = {}
    for p in patterns:
        for r in set(x.lower() for x in p.runs):
            frequency[r] = frequency.get(r, 0) + 1
    for p in patterns:
        p.literal = _choose_literal(p.runs, frequency)
    return patterns, stats


def _substitute(template: str, groups: tuple[str | None, ...]) -> str:
    def repl(m: re.Match[str]) -> str:
        idx = int(m.group(1) or m.group(2) or m.group(3))
        value = groups[idx - 1] if 0 < idx <= len(groups) else None
        value = value or ""
        if m.group(2):  # $P(n): printable characters only
            value = "".join(c for c in value if c.isprintable())
        elif m.group(3):
            value = value.replace(m.group(4), m.group(5))
        return value

    return _SUBST_RE.sub(repl, template).strip()


@dataclass
class NmapDatabase:
    """The indexed pattern set; `match(services, text)` returns the first matching pattern's verdict."""

    patterns: Sequence[_Pattern]  # packed on construction
    stats: NmapStats
    source: str
    _by_service: dict[str, tuple[dict[str, list[int]], list[int]]] = field(default_factory=dict)
    _compiled: dict[int, re.Pattern[str] | None] = field(default_factory=dict)
    _merged_index: dict[tuple[str, ...], tuple[dict[str, list[tuple[int, str]]], list[int]]] = field(
        default_factory=dict)
    _template_cache: dict[tuple[tuple[str, ...], str, str], list[tuple[int, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.patterns, PackedPatterns):
            self.patterns = PackedPatterns.pack(self.patterns)
        if not self._by_service:
            self._by_service = build_index(self.patterns)

    def services(self) -> list[str]:
        return sorted(self._by_service)

    def _regex(self, idx: int) -> re.Pattern[str] | None:
        if idx not in self._compiled:
            p = self.patterns[idx]
            try:
                self._compiled[idx] = re.compile(p.regex, p.flags)
                self.stats.compiled += 1
            except (re.error, RecursionError, OverflowError):
                self._compiled[idx] = None
                self.stats.uncompilable += 1
        return self._compiled[idx]

    def _merged(self, services: tuple[str, ...]) -> tuple[dict[str, list[tuple[int, str]]], list[int]]:
        """One index for a set of services: trigram -> (pattern, lower-cased literal), built once per set."""
        merged = self._merged_index.get(services)
        if merged is None:
            packed = self.patterns
            assert isinstance(packed, PackedPatterns)  # __post_init__ packs a plain list
            tri: dict[str, list[tuple[int, str]]] = {}
            always: list[int] = []
            for service in services:
                tri_index, svc_always = self._by_service.get(service, ({}, []))
                always += svc_always
                for gram, idxs in tri_index.items():
                    tri.setdefault(gram, []).extend((i, (packed.literal(i) or "").lower()) for i in idxs)
            merged = self._merged_index[services] = (tri, always)
        return merged

    def candidates(self, services: tuple[str, ...], text: str, window: tuple[int, int] | None = None) -> list[int]:
        """Pattern indexes (in file order) whose required literal occurs in `text`.

        `window` marks where the observed value sits inside a rebuilt response (text[start:end]); the rest is a
        constant template, whose trigram hits are looked up once per template and reused.
        """
        low = text.lower()
        tri, always = self._merged(services)
        found = list(always)
        get = tri.get
        if window is None:
            grams = {low[i : i + 3] for i in range(len(low) - 2)}
        else:
            start, end = window
            const = self._template_hits(services, low[:start], low[end:])
            # Literals are compared case-folded: a superset is safe for a prefilter, and inline (?i) flags
            # inside a pattern need no special case.
            found += [idx for idx, lit in const if lit in low]
            part = low[max(0, start - 2) : end + 2]
            grams = {part[i : i + 3] for i in range(len(part) - 2)}
        for gram in grams:
            hits = get(gram)
            if hits is not None:
                found += [idx for idx, lit in hits if lit in low]
        found = sorted(set(found)) if window is not None else sorted(found)
        return found

    def _template_hits(self, services: tuple[str, ...], prefix: str, suffix: str) -> list[tuple[int, str]]:
        """Index entries keyed by trigrams lying wholly inside a template's constant prefix or suffix."""
        key = (services, prefix, suffix)
        hits = self._template_cache.get(key)
        if hits is None:
            tri, _ = self._merged(services)
            grams = {prefix[i : i + 3] for i in range(len(prefix) - 2)}
            grams |= {suffix[i : i + 3] for i in range(len(suffix) - 2)}
            hits = [hit for gram in grams for hit in tri.get(gram, ())]
            if len(self._template_cache) < 256:
                self._template_cache[key] = hits
        return hits

    def match(self, services: tuple[str, ...], text: str, window: tuple[int, int] | None = None) -> NmapMatch | None:
        """The first pattern (in database order) of `services` that matches `text`."""
        for idx in self.candidates(services, text, window):
            rx = self._regex(idx)
            if rx is None:
                continue
            m = rx.search(text)
            if m is None:
                continue
            p = self.patterns[idx]
            groups = m.groups()
            f = {k: _substitute(v, groups) or None for k, v in p.fields.items()}
            return NmapMatch(
                line=p.line,
                service=p.service,
                product=f.get("p"),
                version=f.get("v"),
                info=f.get("i"),
                hostname=f.get("h"),
                os=f.get("o"),
                device_type=f.get("d"),
                cpes=tuple(_substitute(c, groups) for c in p.cpes),
            )
        return None

    def compile_all(self) -> list[tuple[re.Pattern[str], int]]:
        """Every pattern compiled (for the benchmark's naive baseline)."""
        out = []
        for idx in range(len(self.patterns)):
            rx = self._regex(idx)
            if rx is not None:
                out.append((rx, idx))
        return out


def build_index(patterns: Sequence[_Pattern]) -> dict[str, tuple[dict[str, list[int]], list[int]]]:
    """service -> (rarest trigram of each pattern's literal -> pattern indexes, patterns without a literal)."""
    by_service: dict[str, tuple[dict[str, list[int]], list[int]]] = {}
    # Only the first KEY_SPAN characters of a literal are considered for its key: plenty of choice, bounded cost.
    freq: dict[str, int] = {}
    for p in patterns:
        if p.literal:
            low = p.literal.lower()[:KEY_SPAN]
            for i in range(len(low) - 2):
                gram = low[i : i + 3]
                freq[gram] = freq.get(gram, 0) + 1
    for idx, p in enumerate(patterns):
        tri_index, always = by_service.setdefault(p.service, ({}, []))
        if not p.literal:
            always.append(idx)
            continue
        low = p.literal.lower()[:KEY_SPAN]
        key = min((low[i : i + 3] for i in range(len(low) - 2)), key=freq.__getitem__)
        tri_index.setdefault(key, []).append(idx)
    return by_service


def _parse_for_cache(path: Path) -> Any:
    patterns, stats = parse_probes(path.read_text(encoding="latin-1"))
    return (
        PackedPatterns.pack(patterns).rows(),
        (stats.patterns, stats.skipped_no_vendor_info, stats.uncompilable, stats.unindexed, 0,
         stats.refused_backtracking),
        build_index(patterns),
    )


def load_nmap_database(path: Path | None = None) -> NmapDatabase | None:
    """Load and index nmap-service-probes; None when nmap's database is not installed."""
    path = path or DEFAULT_PATH
    if not path.exists():
        return None
    try:
        rows, counts, index = cached("nmap-probes", [path], lambda: _parse_for_cache(path))
        patterns = PackedPatterns(*rows)
    except (ValueError, TypeError):  # a cache entry of an older layout: parse afresh
        rows, counts, index = _parse_for_cache(path)
        patterns = PackedPatterns(*rows)
    return NmapDatabase(patterns, NmapStats(*counts), str(path), index)


@functools.cache
def nmap_database() -> NmapDatabase | None:
    """The installed nmap database, loaded and indexed once."""
    return load_nmap_database()
