"""Searching the vendor catalogue by name, alias, id, CPE vendor or country (for `herkomst fingerprint vendors`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fingerprints.aliases import normalise
from fingerprints.catalogue import Catalogue, Vendor, catalogue
from fingerprints.countries import COUNTRIES
from fingerprints.policy import Policy, default_policy


def describe(vendor: Vendor, policy: Policy | None = None, when: date | None = None) -> dict[str, Any]:
    """A vendor as a JSON-ready summary, with the policy's verdict."""
    policy = policy or default_policy()
    owner = vendor.owner_at(when)
    return {
        "id": vendor.id,
        "name": vendor.name,
        "short": vendor.short,
        "country": vendor.hq.country,
        "owner": owner.name if owner else None,
        "owner_country": owner.country if owner else None,
        "oem_makers": [rel.maker for rel in vendor.oem],
        "categories": vendor.categories,
        "lists": sorted({m.list for m in vendor.lists}),
        "flagged": policy.lists(vendor.hq.country) or (owner is not None and policy.lists(owner.country)),
        "aliases": vendor.aliases,
        "former_names": [{"name": f.name, "until": f.until.isoformat() if f.until else None, "note": f.note,
                          "source": f.source} for f in vendor.former],
    }


def search(query: str, *, limit: int = 20, cat: Catalogue | None = None) -> list[dict[str, Any]]:
    """Vendors matching `query`, best first: exact id/alias, then prefix, then substring; `CN` lists a country."""
    cat = cat or catalogue()
    code = query.strip()
    if len(code) == 2 and code.isupper() and code in COUNTRIES:
        # An ISO code in capitals asks for the vendors of that country (headquarters or current owner).
        ids = sorted(v.id for v in cat.vendors.values()
                     if v.hq.country == code or ((o := v.owner_at()) is not None and o.country == code))
        return [describe(cat.vendors[vid]) for vid in ids[:limit]]
    q = normalise(query)
    if not q:
        return []
    scored: list[tuple[int, str]] = []
    for v in cat.vendors.values():
        names = [normalise(n) for n in [v.id, v.name, v.short, *v.aliases, *(f.name for f in v.former), *v.cpe]]
        if q in names:
            score = 0
        elif any(n.startswith(q) for n in names):
            score = 1
        elif any(q in n for n in names):
            score = 2
        else:
            continue
        scored.append((score, v.id))
    scored.sort()
    return [describe(cat.vendors[vid]) for _, vid in scored[:limit]]
