"""Shared fixtures: an engine over a small real-vendor catalogue (tests/fingerprints/fixtures/data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fingerprints.engine import Engine, engine_for
from fingerprints.policy import Policy, load_policy

FIXTURES = Path(__file__).parent / "fixtures" / "data"


@dataclass
class Obs:
    """The smallest ObservationLike: what the collector and agent hand to identify()."""

    kind: str
    value: str
    port: int | None = None


@pytest.fixture(scope="session")
def engine() -> Engine:
    return engine_for(FIXTURES)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(FIXTURES / "policy.toml")
