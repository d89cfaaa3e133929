"""Measured quality: precision and recall of the vendor and the flag, per kind, on labelled cases.

Each line of data/eval/*.jsonl is {"kind", "value", "vendor": expected id or null, "flag": expected bool,
"source"} — or {"observations": [...], "vendor", "flag", "source"} for a whole device. Definitions:
vendor precision = correct named vendors / all named vendors; vendor recall = correct / cases whose label names a
vendor; flag precision = true flags / all flags; flag recall = true flags / cases labelled flagged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fingerprints.analyse import clean_value
from fingerprints.engine import default_engine

EVAL_DIR = Path(__file__).parent / "data" / "eval"


class _Obs:
    __slots__ = ("kind", "value", "port")

    def __init__(self, kind: str, value: str) -> None:
        self.kind, self.value, self.port = kind, value, None


def load_cases(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    cases = []
    for path in paths or sorted(EVAL_DIR.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("//"):
                case = json.loads(line)
                case["_where"] = f"{path.name}:{n}"
                cases.append(case)
    return cases


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def run_evaluation(paths: list[Path] | None = None) -> dict[str, Any]:
    """Run every case and return the figures per kind and overall, with the failing cases."""
    engine = default_engine()
    counters: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    for case in load_cases(paths):
        obs_list = case.get("observations") or [{"kind": case["kind"], "value": case["value"]}]
        kind = case.get("kind") or "device"
        ident = engine.identify([_Obs(o["kind"], o["value"]) for o in obs_list])
        got_vendor, want_vendor = ident.vendor_id, case.get("vendor")
        got_flag, want_flag = ident.flagged, bool(case.get("flag"))
        for key in (kind, "all"):
            c = counters.setdefault(key, dict.fromkeys(
                ("cases", "named", "named_ok", "labelled", "found", "flagged", "flag_ok", "want_flag", "flag_found"),
                0))
            c["cases"] += 1
            if got_vendor is not None:
                c["named"] += 1
                c["named_ok"] += got_vendor == want_vendor
            if want_vendor is not None:
                c["labelled"] += 1
                c["found"] += got_vendor == want_vendor
            c["flagged"] += got_flag
            c["flag_ok"] += got_flag and want_flag
            c["want_flag"] += want_flag
            c["flag_found"] += got_flag and want_flag
        if got_vendor != want_vendor or got_flag != want_flag:
            errors.append({"where": case["_where"], "kind": kind,
                           "value": clean_value(obs_list[0]["value"])[:100],
                           "want": [want_vendor, want_flag], "got": [got_vendor, got_flag],
                           "confidence": ident.confidence})
    figures = {
        kind: {
            "cases": c["cases"],
            "vendor_precision": _ratio(c["named_ok"], c["named"]),
            "vendor_recall": _ratio(c["found"], c["labelled"]),
            "flag_precision": _ratio(c["flag_ok"], c["flagged"]),
            "flag_recall": _ratio(c["flag_found"], c["want_flag"]),
        }
        for kind, c in sorted(counters.items())
    }
    return {"figures": figures, "errors": errors}


def format_report(report: dict[str, Any], *, show_errors: bool = False) -> str:
    def pct(x: float | None) -> str:
        return "   -  " if x is None else f"{x * 100:5.1f}%"

    lines = [f"{'kind':24} {'cases':>5}  {'vend.P':>6} {'vend.R':>6}  {'flag.P':>6} {'flag.R':>6}"]
    figures = report["figures"]
    for kind in [k for k in figures if k != "all"] + (["all"] if "all" in figures else []):
        f = figures[kind]
        lines.append(f"{kind:24} {f['cases']:>5}  {pct(f['vendor_precision'])} {pct(f['vendor_recall'])}  "
                     f"{pct(f['flag_precision'])} {pct(f['flag_recall'])}")
    lines.append(f"{len(report['errors'])} case(s) wrong")
    if show_errors:
        for e in report["errors"]:
            lines.append(f"  {e['where']} {e['kind']}: {e['value']!r} want {e['want']} got {e['got']}")
    return "\n".join(lines)
