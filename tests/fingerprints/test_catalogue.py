"""Catalogue and policy loading and validation."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from fingerprints.catalogue import load_catalogue
from fingerprints.policy import PolicyError, load_policy
from tests.fingerprints.conftest import FIXTURES


def test_fixture_catalogue_loads_with_indexes() -> None:
    cat = load_catalogue(FIXTURES)
    assert cat.faults == []
    assert cat.version == "test-1"
    assert cat.by_pen[2011] == "huawei"
    assert cat.by_odva[1] == "rockwell"
    assert cat.by_cpe["dahuasecurity"] == "dahua"
    assert cat.by_alias["hangzhou hikvision digital technology co.,ltd."] == "hikvision"


def test_owner_valid_at_date() -> None:
    lorex = load_catalogue(FIXTURES).vendors["lorex"]
    assert lorex.owner_at(date(2020, 6, 1)).country == "CN"  # type: ignore[union-attr]
    assert lorex.owner_at(date(2024, 6, 1)).country == "TW"  # type: ignore[union-attr]
    assert lorex.owner_at(date(2010, 1, 1)) is None


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(FIXTURES, dst)
    return dst


def test_faults_are_reported_not_fatal(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    (data / "vendors" / "bad.toml").write_text(
        '[[vendor]]\nid = "Bad Id"\nname = "x"\nshort = "x"\n'
        'hq = { country = "XX", source = "https://example.org/x", retrieved = "2026-11-30" }\n'
        '[[vendor.owners]]\nname = "x"\ncountry = "CN"\nretrieved = "2026-11-30"\n'
        '\n[[vendor]]\nid = "clone"\nname = "Clone"\nshort = "Clone"\naliases = ["HIKVISION"]\n'
        'hq = { country = "NL", source = "https://example.org/c", retrieved = "2026-11-30" }\n'
        '[[vendor.owners]]\nname = "Clone"\ncountry = "NL"\nsource = "https://example.org/c"\n'
        'retrieved = "2026-11-30"\n',
        encoding="utf-8",
    )
    cat = load_catalogue(data)
    text = "\n".join(cat.faults)
    assert "Bad Id" in text and "ISO 3166-1" in text and "source" in text
    assert "alias 'hikvision' is claimed by both" in text
    assert "hikvision" in cat.vendors  # the good vendors still load


def test_policy_loads_and_rejects_bad_codes(tmp_path: Path) -> None:
    pol = load_policy(FIXTURES / "policy.toml")
    assert pol.countries == ["CN", "RU", "IR", "KP"] and pol.lists("RU") and not pol.lists("NL")
    bad = tmp_path / "p.toml"
    bad.write_text('version = "x"\ncountries = ["China"]\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="ISO 3166-1"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")


def test_a_rule_written_into_a_vendor_file_is_a_fault_not_silence(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    (data / "vendors" / "stray.toml").write_text(
        '[[rule]]\nid = "misplaced"\nkinds = ["snmp.sysdescr"]\npattern = "x"\n', encoding="utf-8")
    cat = load_catalogue(data)
    assert any("stray.toml" in f and "'rule'" in f and "data/rules/" in f for f in cat.faults), cat.faults
