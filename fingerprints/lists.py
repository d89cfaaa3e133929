"""The public lists that name vendors (catalogue facts `lists = [{list, since, source}]`): their names, so that a
verdict can say "on the FCC Covered List since 2021-03-12". Being on a list is shown, never a flag by itself: the
policy flags by country (fingerprints/policy.py)."""

from __future__ import annotations

import functools
from datetime import date

#: List id → the name an analyst reads. `herkomst fingerprint check` refuses a catalogue list id not named here.
LIST_NAMES: dict[str, str] = {
    "fcc-covered": "FCC Covered List (US Secure and Trusted Communications Networks Act)",
    "ndaa-889": "NDAA FY2019 section 889 (US federal procurement ban)",
    "us-entity-list": "US Commerce Entity List (15 CFR 744)",
    "us-1260h": "US DoD section 1260H list of Chinese military companies",
    "us-ofac-sdn": "US Treasury OFAC Specially Designated Nationals list",
}


def list_name(list_id: str) -> str:
    return LIST_NAMES.get(list_id, list_id)


def vendors_on(list_id: str, when: date | None = None) -> frozenset[str]:
    """Catalogue ids of the vendors a verdict would show on `list_id` on `when` (default today): the listed vendors
    and the brands whose white-label maker is listed."""
    return _vendors_on(list_id, when or date.today())


@functools.lru_cache(maxsize=256)
def _vendors_on(list_id: str, when: date) -> frozenset[str]:
    from fingerprints.catalogue import catalogue

    cat = catalogue()
    listed = {v.id for v in cat.vendors.values()
              if any(m.list == list_id and (m.since is None or m.since <= when) for m in v.lists)}
    brands = {v.id for v in cat.vendors.values() if any(rel.maker in listed for rel in v.oem)}
    return frozenset(listed | brands)
