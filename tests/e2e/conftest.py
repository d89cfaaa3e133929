"""End-to-end fixtures: the lab, a collector on the lab bridge with TLS, and an enrolled agent in `hk-agent`."""

from __future__ import annotations

from tests.lab_fixture import lab  # noqa: F401  (the session-scoped lab)
