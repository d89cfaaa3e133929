"""Searching the vendor catalogue by name, alias, id, CPE vendor or country (for `herkomst fingerprint vendors`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fingerprints.aliases import normalise
from fingerprints.catalogue import Catalogue, Vendor, catalogue
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
    }


def search(query: str, *, limit: int = 20, cat: Catalogue | None = None) -> list[dict[str, Any]]:
    """Vendors matching `query`, best first: exact id/alias, then prefix, then substring; or all of a country."""
    cat = cat or catalogue()
    q = normalise(query)
    if not q:
        return []
    scored: list[tuple[int, str]] = []
    for v in cat.vendors.values():
        names = [normalise(n) for n in [v.id, v.name, v.short, *v.aliases, *v.cpe]]
        if q in names:
            score = 0
        elif any(n.startswith(q) for n in names):
            score = 1
        elif any(q in n for n in names):
            score = 2
        elif len(query) == 2 and query.upper() in (v.hq.country, *(o.country for o in v.owners)):
            score = 3
        else:
            continue
        scored.append((score, v.id))
    scored.sort()
    return [describe(cat.vendors[vid]) for _, vid in scored[:limit]]
