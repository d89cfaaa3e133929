"""The Herkomst collector: ingest → store → attribute → query / report."""
