"""The agent's tests; the lab fixture comes from tests/conftest.py."""
