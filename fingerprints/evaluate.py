"""Measured quality: precision and recall of the vendor and the flag, per kind, on labelled cases.

Each line of data/eval/*.jsonl is {"kind", "value", "vendor": expected id or null, "flag": expected bool,
"source"} — or {"observations": [...], "vendor", "flag", "source"} for a whole device. Definitions:
vendor precision = correct named vendors / all named vendors; vendor recall = correct / cases whose label names a
vendor; flag precision = true flags / all flags; flag recall = true flags / cases labelled flagged.

Three sets are measured apart. The in-sample set (data/eval/*.jsonl, not recursive) was written beside the rules.
The held-out set (data/eval/heldout/*.jsonl, see its README.md) was gathered from public material the rules were
not written from, frozen before the rules it tests, and must never be used to write rules. The seen set
(data/eval/seen/*.jsonl) holds earlier held-out sets once they have been used to tune the engine: real evidence
still, but no longer out of sample, so reported apart from both. Held-out and seen rows also carry
"vendor_name" (the maker as the source names it) and "country"; "vendor" is null when the catalogue lacks the maker.
Held-out definitions: a case "has a maker" when vendor or vendor_name is set; vendor named = cases where the engine
names exactly the labelled catalogue id / cases that have a maker (so a maker missing from the catalogue is always
a miss: the engine named nothing or someone else). A row frozen with "vendor": null because the catalogue then
lacked its maker is scored against the catalogue vendor whose own name, short name or alias is exactly its
"vendor_name", compared without case and punctuation (`label_vendor`: the label is a name, the catalogue the
vocabulary; legal forms are not stripped — "ProSoft Technology" is not "ProSoft Systems" —, former names and product
lines are not used, and a name two vendors share resolves to none); flag recall = true flags / cases labelled flag
true (listed country); flag precision = true flags / all flags raised.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fingerprints.aliases import normalise
from fingerprints.analyse import clean_value
from fingerprints.catalogue import catalogue
from fingerprints.engine import default_engine
from fingerprints.identification import Obs

EVAL_DIR = Path(__file__).parent / "data" / "eval"
HELDOUT_DIR = EVAL_DIR / "heldout"
SEEN_DIR = EVAL_DIR / "seen"




def load_cases(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    """The in-sample cases (data/eval/*.jsonl, never heldout/), or those of the given files."""
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
        kind, obs_list, ident = _identify(engine, case)
        got_vendor, want_vendor = ident.vendor_id, label_vendor(case)
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


def pct(x: float | None) -> str:
    """A ratio as a percentage column, or a dash where nothing was counted."""
    return "   -  " if x is None else f"{x * 100:5.1f}%"


def _identify(engine: Any, case: dict[str, Any]) -> tuple[str, list[dict[str, Any]], Any]:
    """The case's kind ("device" for a whole device), its observations and the engine's identification."""
    obs_list = case.get("observations") or [{"kind": case["kind"], "value": case["value"]}]
    ident = engine.identify([Obs(o["kind"], o["value"]) for o in obs_list])
    return case.get("kind") or "device", obs_list, ident


def format_report(report: dict[str, Any], *, show_errors: bool = False) -> str:
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


@functools.cache
def _vendor_names() -> dict[str, str]:
    """normalised name -> vendor id, from each vendor's name, short name and aliases."""
    index: dict[str, str | None] = {}
    for vendor in catalogue().vendors.values():
        for name in {vendor.name, vendor.short, *vendor.aliases}:
            key = normalise(name)
            if key and index.setdefault(key, vendor.id) != vendor.id:
                index[key] = None  # shared by two vendors: names neither
    return {k: v for k, v in index.items() if v is not None}


def label_vendor(case: dict[str, Any]) -> str | None:
    """The catalogue id a held-out row's label denotes: its "vendor", else the vendor its "vendor_name" names."""
    if case.get("vendor"):
        return str(case["vendor"])
    name = case.get("vendor_name")
    if not name:
        return None
    names = _vendor_names()
    # "Zoho (ManageEngine)", "PagerDuty (Rundeck)": the maker, then the product or brand the source also named
    return names.get(normalise(name)) or names.get(normalise(str(name).split("(")[0]))


def heldout_paths() -> list[Path]:
    return sorted(HELDOUT_DIR.glob("*.jsonl"))


def seen_paths() -> list[Path]:
    """Former held-out sets that have since been used to tune the engine (data/eval/seen/)."""
    return sorted(SEEN_DIR.glob("*.jsonl"))


def load_heldout(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    """The held-out cases (data/eval/heldout/*.jsonl): out of sample, frozen, never to write rules from."""
    chosen = paths or heldout_paths()
    return load_cases(chosen) if chosen else []


def run_heldout(paths: list[Path] | None = None) -> dict[str, Any]:
    """Figures per kind, per source file and overall on the held-out set (definitions in the module docstring)."""
    engine = default_engine()
    counters: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    names = ("cases", "with_maker", "named_ok", "named", "listed", "flagged", "flag_ok")
    for case in load_heldout(paths):
        kind, obs_list, ident = _identify(engine, case)
        got_vendor, want_vendor = ident.vendor_id, label_vendor(case)
        has_maker = want_vendor is not None or bool(case.get("vendor_name"))
        got_flag, want_flag = bool(ident.flagged), bool(case.get("flag"))
        ok = has_maker and want_vendor is not None and got_vendor == want_vendor
        source_file = "file:" + case["_where"].split(":", 1)[0]
        for key in (kind, source_file, "all"):
            c = counters.setdefault(key, dict.fromkeys(names, 0))
            c["cases"] += 1
            c["with_maker"] += has_maker
            c["named_ok"] += ok
            c["named"] += got_vendor is not None
            c["listed"] += want_flag
            c["flagged"] += got_flag
            c["flag_ok"] += got_flag and want_flag
        if (has_maker and not ok) or got_flag != want_flag:
            errors.append({"where": case["_where"], "kind": kind,
                           "value": clean_value(obs_list[0]["value"])[:100],
                           "want": [want_vendor or case.get("vendor_name"), want_flag],
                           "got": [got_vendor, got_flag], "confidence": ident.confidence})
    figures = {
        key: {
            "cases": c["cases"],
            "with_maker": c["with_maker"],
            "listed": c["listed"],
            "vendor_named": _ratio(c["named_ok"], c["with_maker"]),
            "vendor_precision": _ratio(c["named_ok"], c["named"]),
            "flag_recall": _ratio(c["flag_ok"], c["listed"]),
            "flag_precision": _ratio(c["flag_ok"], c["flagged"]),
        }
        for key, c in sorted(counters.items())
    }
    return {"figures": figures, "errors": errors}


HELDOUT_TITLE = "held-out set (data/eval/heldout/, out of sample, frozen before its rules; never write rules from it)"
SEEN_TITLE = "seen set (data/eval/seen/: real evidence, formerly held out, since used to tune the engine)"


def format_heldout(report: dict[str, Any], *, show_errors: bool = False, title: str = HELDOUT_TITLE) -> str:
    lines = [title,
             f"{'kind / file':34} {'cases':>5} {'maker':>5} {'listed':>6}  {'named':>6} {'vend.P':>6}  "
             f"{'flag.P':>6} {'flag.R':>6}"]
    figures = report["figures"]
    order = ([k for k in figures if k != "all" and not k.startswith("file:")]
             + [k for k in figures if k.startswith("file:")] + (["all"] if "all" in figures else []))
    for key in order:
        f = figures[key]
        lines.append(f"{key:34} {f['cases']:>5} {f['with_maker']:>5} {f['listed']:>6}  {pct(f['vendor_named'])} "
                     f"{pct(f['vendor_precision'])}  {pct(f['flag_precision'])} {pct(f['flag_recall'])}")
    if not figures:
        lines.append("(no files)")
    lines.append(f"{len(report['errors'])} held-out case(s) wrong")
    if show_errors:
        for e in report["errors"]:
            lines.append(f"  {e['where']} {e['kind']}: {e['value']!r} want {e['want']} got {e['got']}")
    return "\n".join(lines)
