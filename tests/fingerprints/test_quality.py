"""The packaged data passes `check`, and the labelled evaluation set meets the issue's targets."""

from __future__ import annotations

from fingerprints.check import run_check
from fingerprints.evaluate import load_cases, run_evaluation


def test_packaged_data_passes_check() -> None:
    result = run_check()
    assert result.faults == [], "\n".join(result.faults)


def test_evaluation_meets_targets() -> None:
    assert len(load_cases()) >= 300
    report = run_evaluation()
    overall = report["figures"]["all"]
    assert overall["flag_precision"] >= 0.995, report["errors"]
    assert overall["flag_recall"] >= 0.95, report["errors"]
    assert overall["vendor_recall"] >= 0.80, report["errors"]
    kinds = {k for k in report["figures"] if k not in ("all", "device")}
    assert len(kinds) >= 35  # every kind family is measured, not only banners


def test_vendor_search() -> None:
    from fingerprints.vendors import search

    assert search("HIKVISION")[0]["id"] == "hikvision"
    assert search("hikv")[0]["id"] == "hikvision"
    assert all(hit["country"] == "RU" or hit["owner_country"] == "RU" for hit in search("RU", limit=50))
    assert search("") == []
