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


def _load_places() -> dict[str, str]:
    places: dict[str, str] = {}
    for line in (Path(__file__).parent / "data" / "places.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            place, country, _source = line.split("\t", 2)
            places[place] = country
    return places


#: normalised place name -> ISO code (data/places.tsv): cities and provinces that place a registered name.
PLACES: Final[dict[str, str]] = _load_places()
_PLACE_WORDS: Final[int] = max((p.count(" ") + 1 for p in PLACES), default=1)


def country_of_place_in(normalised_name: str) -> tuple[str, str] | None:
    """(place, country) when the normalised name holds places of exactly one country (data/places.tsv)."""
    words = normalised_name.split()
    found: dict[str, str] = {}
    for i in range(len(words)):
        for n in range(1, _PLACE_WORDS + 1):
            place = " ".join(words[i:i + n])
            if place in PLACES:
                found.setdefault(PLACES[place], place)
    if len(found) != 1:
        return None
    country, place = next(iter(found.items()))
    return place, country
