"""The Herkomst agent: discover → probe → observe → identify → report (or spool)."""

__version__ = "0.1.0"
