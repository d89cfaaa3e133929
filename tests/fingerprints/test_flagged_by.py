"""The verdict names which origin dimensions flagged it: headquarters, owner, maker (behind a white-label brand),
registrant, software or os — so that a policy reader sees *why* without parsing the reasons' prose."""

from __future__ import annotations

from collections import Counter

import fingerprints
from fingerprints.evaluate import load_cases
from fingerprints.identification import Obs

DIMENSIONS = {"headquarters", "owner", "maker", "registrant", "software", "os"}


def _identify(case: dict) -> fingerprints.Identification:
    observations = case.get("observations") or [{"kind": case["kind"], "value": case["value"]}]
    return fingerprints.identify([Obs(o["kind"], o["value"], o.get("port")) for o in observations])


def test_every_flagged_verdict_names_its_dimensions_and_no_other_does():
    seen: Counter[str] = Counter()
    for case in load_cases():
        ident = _identify(case)
        assert len(ident.flagged_by) <= len(ident.flag_reasons), (case, ident.flag_reasons, ident.flagged_by)
        assert set(ident.flagged_by) <= DIMENSIONS
        assert bool(ident.flagged_by) == ident.flagged, case
        seen.update(ident.flagged_by)
    # the in-sample set holds each of the common kinds of flag
    assert seen["headquarters"] and seen["owner"] and seen["maker"], seen


def test_a_camera_of_a_listed_maker_is_flagged_by_headquarters_and_owner():
    ident = fingerprints.identify([Obs("http.server", "App-webs/", 80)])
    assert ident.flagged_by == ["headquarters", "owner"]
