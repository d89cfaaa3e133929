"""Lab tests use the session `lab` fixture (also imported by tests/conftest.py; importing it here keeps this
directory runnable on its own)."""

from tests.lab_fixture import lab  # noqa: F401
