"""ISO 3166-1 alpha-2 country codes and their common names (data/countries.tsv, from Debian's iso-codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

# Names read better in flag reasons than the formal ones.
_PREFERRED = {"RU": "Russia", "KP": "North Korea", "IR": "Iran", "KR": "South Korea", "TW": "Taiwan"}


def _load() -> dict[str, str]:
    names: dict[str, str] = {}
    for line in (Path(__file__).parent / "data" / "countries.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            names[code] = _PREFERRED.get(code, name)
    return names


COUNTRIES: Final[dict[str, str]] = _load()


def country_name(code: str) -> str:
    """The common name of an ISO code, or the code itself when unknown."""
    return COUNTRIES.get(code, code)
