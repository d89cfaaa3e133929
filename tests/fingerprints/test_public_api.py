"""The public surface the collector and the agent use is pinned here; changing it must be deliberate."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import fingerprints
from fingerprints import Identification, identify
from fingerprints.report import IdentificationHint, Observation


def test_exported_members() -> None:
    assert sorted(fingerprints.__all__) == sorted([
        "Identification", "ObservationLike", "Policy",
        "catalogue_version", "data_digest", "identify", "load_policy", "policy_version", "validity_epoch",
    ])
    for name in fingerprints.__all__:
        assert hasattr(fingerprints, name)


def test_identify_signature() -> None:
    sig = inspect.signature(identify)
    assert list(sig.parameters) == ["observations", "policy", "when"]
    assert sig.parameters["policy"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["when"].kind is inspect.Parameter.KEYWORD_ONLY


def test_report_observation_is_accepted_and_hint_validates() -> None:
    obs = Observation(kind="ssh.banner", value="SSH-2.0-HUAWEI-1.5", source="probe.ssh",
                      seen_at=datetime.now(UTC))
    assert isinstance(obs, fingerprints.ObservationLike)
    ident = identify([obs])
    assert isinstance(ident, Identification)
    assert ident.vendor_id == "huawei" and ident.flagged
    hint = ident.to_hint()
    assert isinstance(hint, IdentificationHint)
    assert hint.vendor_id == "huawei" and hint.country == "CN" and hint.flagged is True
    assert hint.catalogue_version == fingerprints.catalogue_version()
    IdentificationHint.model_validate(hint.model_dump())


def test_versions_are_strings() -> None:
    assert fingerprints.catalogue_version() and fingerprints.policy_version()
    ident = identify([])
    assert ident.catalogue_version == fingerprints.catalogue_version()
    assert ident.policy_version == fingerprints.policy_version()
    assert ident.vendor_id is None and ident.unknown_reason == "no observations"
