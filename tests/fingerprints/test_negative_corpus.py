"""A false flag accuses an operator: ordinary text must never flag by itself.

The negative corpus is text that names no vendor of a listed country unless it spells one out:
- every word of Debian's English word lists (wamerican, wbritish: /usr/share/dict, installed by deploy/setup.sh),
- every package name of Debian 12 (tests/data/negative/debian-bookworm-packages.txt.gz: `apt-cache pkgnames` on
  bookworm main, 2026-12-03, 63,710 names),
- host names made from those words as operators make them ("redmine01", "srv-hexing", "kstars.corp.example").

Each entry goes through the whole engine (`identify`, rules and aliases) as a single observation of a free-text kind.
A flag is earned only when the text contains, as whole words, a name or product line of the flagged vendor that is
not an ordinary English word (or that the catalogue's reviewers marked as meaning only that company, [matching]
earned_words) — "prometheus-tplink-plug-exporter" names TP-Link and "tightvnc-java" GlavSoft's TightVNC; "Redmine"
does not name Redmi, nor "hexing" Hexing Electrical.
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from fingerprints import identify
from fingerprints.aliases import normalise
from fingerprints.catalogue import catalogue
from fingerprints.check import DICTIONARIES, dictionary_words

PACKAGES = Path(__file__).parents[1] / "data" / "negative" / "debian-bookworm-packages.txt.gz"


@dataclass(frozen=True)
class Obs:
    kind: str
    value: str
    port: int | None = None


def _dictionary() -> list[str]:
    missing = [str(p) for p in DICTIONARIES if not p.exists()]
    assert not missing, f"install the word lists (apt install wamerican wbritish; deploy/setup.sh does): {missing}"
    words: set[str] = set()
    for path in DICTIONARIES:
        words.update(w for w in path.read_text(encoding="utf-8").splitlines() if w)
    return sorted(words)


def _packages() -> list[str]:
    return gzip.decompress(PACKAGES.read_bytes()).decode().split()


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[str]]:
    words = _dictionary()
    plain = sorted({w for w in words if "'" not in w})
    return {
        "words": words,
        "packages": _packages(),
        "hostnames": [f"{w.lower()}01" for w in plain] + [f"srv-{w.lower()}" for w in plain[::3]]
        + [f"{w.lower()}.corp.example" for w in plain[1::3]],
    }


def _earned(text: str, vendor_id: str, ordinary: set[str]) -> bool:
    """Whether `text` spells out, as whole words (or glued to a number: "hisilicon23"), a name of `vendor_id` that is
    not an ordinary word."""
    vendor = catalogue().get(vendor_id)
    assert vendor is not None
    tokens = normalise(text).split()
    glued_pairs = {a + b for a, b in zip(tokens, tokens[1:], strict=False)}
    joined = f" {' '.join(tokens)} "
    for name in (vendor.short, vendor.name, *vendor.aliases, *(p.name for p in vendor.products)):
        key = normalise(name)
        if not key or key in ordinary:
            continue
        glued = key.replace(" ", "")
        if f" {key} " in joined or glued in tokens or glued in glued_pairs:
            return True
        if any(t.startswith(glued) and t[len(glued):][:1].isdigit() for t in tokens):
            return True
    return False


def _unearned_flags(entries: list[str], kind: str) -> tuple[list[tuple[str, str]], Counter[str]]:
    cat = catalogue()
    ordinary = (dictionary_words() or set()) - {normalise(w) for w in cat.earned_words}
    unearned: list[tuple[str, str]] = []
    earned: Counter[str] = Counter()
    for text in entries:
        result = identify([Obs(kind, text)])
        if not result.flagged:
            continue
        assert result.vendor_id, (text, result)
        if _earned(text, result.vendor_id, ordinary):
            earned[result.vendor_id] += 1
        else:
            unearned.append((text, result.vendor_id))
    return unearned, earned


@pytest.mark.parametrize("kind", ["http.title", "snmp.sysdescr"])
def test_no_dictionary_word_or_package_name_flags_by_itself(corpus, kind):
    entries = corpus["words"] + corpus["packages"]
    assert len(entries) > 150_000
    unearned, earned = _unearned_flags(entries, kind)
    assert unearned == [], f"{len(unearned)} unearned flags, e.g. {unearned[:20]}"
    # the corpus does hold text that names listed-country vendors outright, and those still flag
    assert sum(earned.values()) >= 3, earned


def test_no_host_name_flags_by_itself(corpus):
    assert len(corpus["hostnames"]) > 100_000
    unearned, _earned_flags = _unearned_flags(corpus["hostnames"], "dhcp.hostname")
    assert unearned == [], f"{len(unearned)} unearned flags, e.g. {unearned[:20]}"


@pytest.mark.parametrize("text,vendor", [
    ("Redmine", None),                     # a Redmi prefix, but no seam: an ordinary product name
    ("chintzy", None),                     # Chint
    ("kstars", None),                      # Kstar
    ("hexing", None),                      # an English word, and Hexing Electrical's short name
    ("HuaweiHomeGateway", "huawei"),       # the vendor glued to a product, at a visible seam
    ("HIKVISION8MP", "hikvision"),
    ("Hexing Electrical HXE310", "hexing"),
])
def test_the_negative_rules_still_let_real_names_through(text, vendor):
    assert identify([Obs("http.title", text)]).vendor_id == vendor
