"""Local identification: run the shared fingerprints engine on a device's observations and keep its verdict
as a hint.

The engine is imported lazily; when it is not installed (or fails on odd input) the device simply travels
without a
hint, because the collector re-derives every attribution itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fingerprints.report import IdentificationHint, Observation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """The hint plus the evidence lines for the summary table."""

    hint: IdentificationHint | None
    evidence: list[str] = field(default_factory=list)
    flag_reasons: list[str] = field(default_factory=list)


def identify_device(observations: list[Observation]) -> Verdict:
    """Identify one device; never raises."""
    try:
        from fingerprints import identify  # type: ignore[attr-defined]
    except ImportError:
        return Verdict(None)
    try:
        result: Any = identify(observations)
        hint = result.to_hint()
        evidence = [
            f"{getattr(e, 'kind', '?')}={str(getattr(e, 'value', ''))[:40]}" for e in getattr(result, "evidence", [])
        ]
        reasons = [str(r) for r in getattr(result, "flag_reasons", []) or []]
        if not isinstance(hint, IdentificationHint):
            hint = IdentificationHint.model_validate(hint, from_attributes=True)
        if hint.vendor is None and hint.vendor_id is None:
            return Verdict(None, evidence, reasons)
        return Verdict(hint, evidence, reasons)
    except Exception as exc:  # noqa: BLE001 - a buggy rule must not cost the operator the whole report
        log.warning("local identification failed: %s", exc)
        return Verdict(None)
