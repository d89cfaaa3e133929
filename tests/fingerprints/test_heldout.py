"""The held-out evaluation set (data/eval/heldout/): well-formed, with provenance, measured apart from in-sample.

The figures are a baseline, not a target: nothing here asserts accuracy, only that the set is sound and is measured.
"""

from __future__ import annotations

import json
import re

from fingerprints.evaluate import EVAL_DIR, HELDOUT_DIR, heldout_paths, load_cases, load_heldout, run_heldout
from fingerprints.kinds import KIND_NAMES
from fingerprints.vendors import search

LISTED = {"CN", "RU", "IR", "KP"}


def test_heldout_files_exist_and_parse() -> None:
    paths = heldout_paths()
    assert paths, "no held-out files"
    assert (HELDOUT_DIR / "README.md").is_file()
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("//"):
                assert isinstance(json.loads(line), dict), f"{path.name}:{n}"
    assert len(load_heldout()) >= 400


def test_in_sample_loader_does_not_pick_up_heldout() -> None:
    in_sample = {c["_where"].split(":")[0] for c in load_cases()}
    held = {p.name for p in heldout_paths()}
    assert not in_sample & held
    assert all(p.parent == EVAL_DIR for p in sorted(EVAL_DIR.glob("*.jsonl")))


def test_every_row_has_provenance_and_valid_labels() -> None:
    known = {}
    for case in load_heldout():
        where = case["_where"]
        assert case.get("source") and case.get("source_repo") and case.get("source_path"), where
        assert re.fullmatch(r"[0-9a-f]{40}", case.get("source_commit") or ""), where
        obs = case.get("observations") or [{"kind": case.get("kind"), "value": case.get("value")}]
        for o in obs:
            assert o["kind"] in KIND_NAMES, where
            assert isinstance(o["value"], str) and o["value"], where
        assert isinstance(case["flag"], bool), where
        country = case.get("country")
        assert country is None or re.fullmatch(r"[A-Z]{2}", country), where
        vendor, name = case.get("vendor"), case.get("vendor_name")
        if vendor is not None:
            assert name, where
            if vendor not in known:
                known[vendor] = any(hit["id"] == vendor for hit in search(vendor, limit=50))
            assert known[vendor], f"{where}: {vendor} is not a catalogue id"
        if country in LISTED:
            assert case["flag"], f"{where}: maker headquartered in a listed country but not flagged"
        if name is None:
            assert vendor is None and not case["flag"], where


def test_heldout_has_listed_and_ordinary_makers() -> None:
    cases = load_heldout()
    assert sum(c["flag"] for c in cases) >= 50
    assert sum(1 for c in cases if not c["flag"] and c.get("vendor_name")) >= 200


def test_heldout_evaluation_reports_per_kind_figures() -> None:
    report = run_heldout()
    figures = report["figures"]
    assert "all" in figures
    kinds = {k for k in figures if k not in ("all", "device") and not k.startswith("file:")}
    assert {"ssh.banner", "telnet.banner", "ftp.banner", "snmp.sysdescr"} <= kinds
    for key, f in figures.items():
        assert set(f) >= {"cases", "with_maker", "listed", "vendor_named", "vendor_precision", "flag_recall",
                          "flag_precision"}, key
        assert f["cases"] > 0
        for name in ("vendor_named", "vendor_precision", "flag_recall", "flag_precision"):
            assert f[name] is None or 0.0 <= f[name] <= 1.0, (key, name)
    assert figures["all"]["cases"] == len(load_heldout())
    assert figures["all"]["vendor_named"] is not None and figures["all"]["flag_recall"] is not None
