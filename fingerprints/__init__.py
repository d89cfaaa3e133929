"""Herkomst fingerprints: the shared vocabulary (observation kinds, report schema) and the identification engine."""
