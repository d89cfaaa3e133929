"""The Herkomst agent: discover → probe → observe → identify → report (or spool)."""
