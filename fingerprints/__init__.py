"""Herkomst fingerprints: the shared vocabulary (observation kinds, report schema) and the identification engine.

The public surface is small and pinned by tests/fingerprints/test_public_api.py:

    identify(observations, *, policy=None, when=None) -> Identification   (observations: ObservationLike; owners
                                                                          as of `when`, default today)
    Identification.to_hint() -> fingerprints.report.IdentificationHint
    catalogue_version(), policy_version(), data_digest(), validity_epoch(day), load_policy(path), Policy

Identification's parts (Component, Conflict, Evidence) live in fingerprints.identification.

Everything else (catalogue, rules, registries) lives in private-by-convention modules and may change.
"""

from __future__ import annotations

from fingerprints.catalogue import catalogue_version, data_digest, validity_epoch
from fingerprints.engine import identify
from fingerprints.identification import Identification, ObservationLike
from fingerprints.policy import Policy, load_policy, policy_version

__all__ = [
    "Identification",
    "ObservationLike",
    "Policy",
    "catalogue_version",
    "data_digest",
    "identify",
    "load_policy",
    "policy_version",
    "validity_epoch",
]
