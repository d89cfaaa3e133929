"""What-if: a proposed country list evaluated against the stored inventory, without changing the official view.

The official flag (fingerprints/engine.py) fires when a country of one of the verdict's origins is on the policy
list: the vendor's headquarters (for a vendor outside the catalogue, its registrant's country), its ultimate owner on
the day the device was judged, for a white-label brand the maker behind it (headquarters or owner), and the makers
of software or an operating system the device runs (headquarters or owner). Nothing else decides it: weak or
contested evidence only adds words to the reasons, and a device whose own vendor is unknown is never flagged. So the
verdict under any list is "one of its origin countries is on the list", and a what-if needs each device's origin
countries, not a new identification:

    identification.country, .owner_country   the device's own vendor (columns)
    identification.flag_vendors             the other vendors ("maker:dahua os:canonical software:@CN"), written
                                            from `detail` whenever a verdict is stored (models.Identification), so
                                            that a million devices are counted without parsing a million JSON texts
    their countries                         the catalogue's headquarters and the owner as of the day the device was
                                            judged: the earlier of its last sighting and the attribution's own day,
                                            as collector/attribution.py judges it

Devices are counted in groups of equal deciding columns (a few thousand groups for a million devices), read from
an index that holds those columns (ix_identification_whatif); only groups whose other vendors changed owner country
over time are counted day by day. A verdict stored without flag_vendors (NULL: written around the model) is read
from its `detail` instead: slower, the same answer. Verdicts the collector has not made yet (an agent's hint,
origin 'agent') carry no detail: only their headquarters and owner countries are looked at.

    proposed_policy(codes)                                       the list, checked; 422 with a reason otherwise
    evaluate(session, proposal=…, sector=…, limit=…, after=…)     counts and one page of the devices that change
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, false, func, literal_column, or_, select, tuple_
from sqlmodel import Session

from collector.errors import ApiError
from collector.models import Device, Identification, Organisation, utcnow
from collector.policy import policy_in_force
from collector.sectors import sectors
from collector.whatif_schemas import WhatIfCell, WhatIfChange, WhatIfOrigin, WhatIfResult
from fingerprints.catalogue import catalogue
from fingerprints.countries import COUNTRIES
from fingerprints.policy import Policy

#: Roles of a component whose maker's countries flag the device (engine._flag_software); NICs, chips and radio
#: modules are shown, never flagged.
FLAGGING_COMPONENT_ROLES = ("software", "os")
#: Rows read at a time while looking for the devices that change.
PAGE_BATCH = 2000
#: Beyond this many distinct (country, owner, flag, vendors) combinations that change, the page is found by reading
#: every identified device rather than by naming the combinations in the query (a bound-parameter limit).
MAX_NAMED_KEYS = 4000


def official_policy(session: Session) -> Policy:
    """The policy the collector attributes with (the one in force, collector/policy.py): the stored flags' own."""
    return policy_in_force(session).policy


# ---------------------------------------------------------------- the list


def proposed_policy(codes: Sequence[str]) -> Policy:
    """The proposed list as a Policy (the same `lists` test the engine applies), or a 422 saying what is wrong."""
    if not codes:
        raise ApiError(422, "empty_country_list", "propose at least one country (ISO 3166-1 alpha-2, e.g. CN)")
    unknown = [c for c in codes if c not in COUNTRIES]
    if unknown:
        shown = ", ".join(repr(c[:8]) for c in unknown[:10])
        raise ApiError(422, "unknown_country", f"not ISO 3166-1 alpha-2 codes (in capitals, e.g. CN): {shown}",
                       [{"unknown": [c[:8] for c in unknown[:50]]}])
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ApiError(422, "duplicate_country", f"each country once: {', '.join(duplicates)} given more than once",
                       [{"duplicates": duplicates}])
    return Policy(version="what-if", name="proposed list", countries=sorted(codes))


def parse_country_list(text: str) -> list[str]:
    """'cn, ru BY' → ['CN', 'RU', 'BY']: how people type a list on the command line and in the web form."""
    return [part.strip().upper() for part in text.replace(",", " ").split() if part.strip()]


def check_sector(sector: str | None) -> None:
    if sector is not None and sector not in sectors():
        raise ApiError(422, "unknown_sector", f"unknown sector {sector[:64]!r}; see GET /api/v1/sectors")


# ---------------------------------------------------------------- origins of a verdict


def flag_vendors(vendor: str | None, vendor_id: str | None, detail: Mapping[str, Any] | None) -> str:
    """The vendors besides the device's own whose countries can flag it, from a stored verdict's detail, as
    space-separated sorted `role:vendor_id` tokens (`role:@CC` for a software maker outside the catalogue known only
    by its registrant's country). Empty when the device's own vendor is unknown: the engine flags nothing then."""
    if (vendor is None and vendor_id is None) or not isinstance(detail, Mapping):
        return ""
    tokens = {f"maker:{m}" for m in detail.get("oem_makers") or () if isinstance(m, str)}
    for c in detail.get("components") or ():
        if not isinstance(c, Mapping) or c.get("role") not in FLAGGING_COMPONENT_ROLES:
            continue
        if c.get("vendor_id"):
            tokens.add(f"{c['role']}:{c['vendor_id']}")
        elif c.get("country"):
            tokens.add(f"{c['role']}:@{c['country']}")
    return " ".join(sorted(tokens))


def record_flag_vendors(context: Any) -> str:
    """Column default of identification.flag_vendors, computed from the inserted row itself, so that every writer of
    verdicts (attribution, an agent's hint) keeps it without knowing of the what-if."""
    row = context.get_current_parameters()
    return flag_vendors(row.get("vendor"), row.get("vendor_id"), row.get("detail"))


@dataclass(frozen=True)
class Origin:
    dimension: str  # headquarters, owner, maker, software, os
    vendor_id: str | None
    country: str


def origins(country: str | None, owner_country: str | None, others: str, when: date | None) -> tuple[Origin, ...]:
    """Every country the engine's verdict looks at for this device, with the catalogue's facts as of `when`."""
    out: list[Origin] = []
    if country:
        out.append(Origin("headquarters", None, country))
    if owner_country:
        out.append(Origin("owner", None, owner_country))
    cat = catalogue()
    for token in others.split():
        role, _, ref = token.partition(":")
        if ref.startswith("@"):
            out.append(Origin(role, None, ref[1:]))
            continue
        vendor = cat.get(ref)
        if vendor is None:  # gone from the catalogue since: nothing left to say about it
            continue
        out.append(Origin(role, vendor.id, vendor.hq.country))
        owner = vendor.owner_at(when)
        if owner is not None and owner.country != vendor.hq.country:
            out.append(Origin(role, vendor.id, owner.country))
    return tuple(out)


def flags(found: Iterable[Origin], policy: Policy) -> bool:
    """The engine's rule: flagged when any origin country is on the list."""
    return any(policy.lists(o.country) for o in found)


def _day(value: Any) -> date | None:
    """A date as the database gives it back (PostgreSQL: date; SQLite: 'YYYY-MM-DD'); a datetime's UTC day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def judged_on(last_seen: Any, computed_at: Any) -> date | None:
    """The day attribution judged ownership on: the device's last sighting, never after the attribution itself."""
    days = [d for d in (_day(last_seen), _day(computed_at)) if d is not None]
    return min(days) if days else None


def dated(others: str) -> bool:
    """Whether the countries behind these other vendors depend on the day (an owner that changed country, or a
    vendor owned from abroad only for a while): only then are devices counted day by day."""
    cat = catalogue()
    for token in others.split():
        vendor = cat.get(token.partition(":")[2])
        if vendor is None or all(o.country == vendor.hq.country for o in vendor.owners):
            continue
        if len(vendor.owners) > 1 or vendor.owners[0].since is not None or vendor.owners[0].until is not None:
            return True
    return False


class _Origins:
    """Origins memoised per (country, owner, other vendors, day): a million devices share a few thousand."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str | None, str | None, str, date | None], tuple[Origin, ...]] = {}
        self._dated: dict[str, bool] = {}

    def dated(self, others: str) -> bool:
        hit = self._dated.get(others)
        if hit is None:
            hit = self._dated[others] = dated(others)
        return hit

    def __call__(self, country: str | None, owner: str | None, others: str, when: date | None) -> tuple[Origin, ...]:
        key = (country, owner, others, when if self.dated(others) else None)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = origins(*key)
        return hit


# ---------------------------------------------------------------- the counts


@dataclass
class _Counts:
    devices: int = 0
    flagged: int = 0
    flagged_whatif: int = 0


#: (country or '', owner or '', official flag, flag_vendors): what a device's change is decided by, bar the day.
_Key = tuple[str, str, bool, str]


@dataclass
class _Tally:
    cells: dict[tuple[str, str | None], _Counts]
    changed_keys: set[_Key]
    unrecorded: int = 0
    would_be_flagged: int = 0
    would_no_longer_be_flagged: int = 0

    def add(self, sector: str, country: str | None, owner: str | None, flagged: bool, others: str, whatif: bool,
            n: int) -> None:
        cell = self.cells.setdefault((sector, country), _Counts())
        cell.devices += n
        cell.flagged += n if flagged else 0
        cell.flagged_whatif += n if whatif else 0
        if whatif != flagged:
            self.changed_keys.add((country or "", owner or "", flagged, others))
            if whatif:
                self.would_be_flagged += n
            else:
                self.would_no_longer_be_flagged += n


def _tables() -> tuple[Any, Any, Any]:
    return (Device.__table__, Organisation.__table__, Identification.__table__)  # type: ignore[attr-defined]


def _from() -> Any:
    d, o, i = _tables()
    return d.join(o, o.c.id == d.c.organisation_id).outerjoin(i, i.c.device_id == d.c.id)


def _grouped(sector: str | None, by_day: Sequence[str] = ()) -> Any:
    """Devices counted by what decides their verdict: sector, country, owner, official flag, other vendors, and for
    the other vendors in `by_day` also the days that decide those vendors' owners."""
    d, o, i = _tables()
    # A literal, not a bound parameter: PostgreSQL matches a grouped expression to the selected one only when they
    # are written alike, and two parameters of one value are not.
    empty: Any = literal_column("''")
    keys = [o.c.sector, i.c.country, i.c.owner_country, func.coalesce(i.c.flagged, false()).label("flagged"),
            func.coalesce(i.c.flag_vendors, empty).label("others")]
    if by_day:
        keys += [func.date(d.c.last_seen).label("day"), func.date(i.c.computed_at).label("judged")]
        q = select(*keys, func.count().label("n")).select_from(_from()).where(i.c.flag_vendors.in_(sorted(by_day)))
    else:
        q = select(*keys, func.count().label("n")).select_from(_from()).where(
            or_(i.c.flag_vendors.is_not(None), i.c.device_id.is_(None)))
    if sector is not None:
        q = q.where(o.c.sector == sector)
    return q.group_by(*keys)


def _tally(session: Session, proposal: Policy, sector: str | None, memo: _Origins) -> _Tally:
    """Count every device once: one pass grouped without days, then day by day only the few devices whose other
    vendors' owners changed country over time, then any verdict stored without flag_vendors."""
    tally = _Tally(cells={}, changed_keys=set())
    by_day: set[str] = set()
    for row in session.execute(_grouped(sector)):
        if memo.dated(row.others):
            by_day.add(row.others)
            continue
        found = memo(row.country, row.owner_country, row.others, None)
        tally.add(row.sector, row.country, row.owner_country, bool(row.flagged), row.others, flags(found, proposal),
                  row.n)
    if by_day:
        for row in session.execute(_grouped(sector, sorted(by_day))):
            found = memo(row.country, row.owner_country, row.others, judged_on(row.day, row.judged))
            tally.add(row.sector, row.country, row.owner_country, bool(row.flagged), row.others,
                      flags(found, proposal), row.n)
    for row in session.execute(_unrecorded(sector)):
        tally.unrecorded += 1
        extra = flag_vendors(row.vendor, row.vendor_id, row.detail)
        found = memo(row.country, row.owner_country, extra, judged_on(row.last_seen, row.computed_at))
        tally.add(row.sector, row.country, row.owner_country, bool(row.flagged), extra, flags(found, proposal), 1)
    return tally


def _unrecorded(sector: str | None) -> Any:
    """Verdicts stored without flag_vendors (written around the model, or before the column): read their detail."""
    d, o, i = _tables()
    q = select(o.c.sector, i.c.country, i.c.owner_country, i.c.flagged, i.c.vendor, i.c.vendor_id, i.c.detail,
               d.c.last_seen, i.c.computed_at).select_from(_from()).where(
        i.c.id.is_not(None), i.c.flag_vendors.is_(None))
    return q if sector is None else q.where(o.c.sector == sector)


# ---------------------------------------------------------------- the devices that change


def _candidates(sector: str | None, keys: set[_Key], unrecorded: bool) -> Any:
    """Ids of the devices that may change, in id order: those whose deciding columns are a changing group's (the
    day is checked afterwards) and the unrecorded ones. Read from the what-if index alone where it can be."""
    d, o, i = _tables()
    q = select(i.c.device_id)
    if sector is not None:
        q = q.select_from(i.join(d, d.c.id == i.c.device_id).join(o, o.c.id == d.c.organisation_id)).where(
            o.c.sector == sector)
    if len(keys) <= MAX_NAMED_KEYS:
        named = tuple_(func.coalesce(i.c.country, ""), func.coalesce(i.c.owner_country, ""), i.c.flagged,
                       i.c.flag_vendors).in_(sorted(keys))
        q = q.where(or_(named, i.c.flag_vendors.is_(None)) if unrecorded else named)
    return q


def _rows(session: Session, ids: Sequence[int]) -> Any:
    d, o, i = _tables()
    return session.execute(select(
        d.c.id, d.c.organisation_id, o.c.name.label("organisation"), o.c.sector, d.c.last_seen, i.c.vendor_id,
        i.c.vendor, i.c.product, i.c.country, i.c.owner_country, i.c.flagged, i.c.flag_vendors, i.c.computed_at,
        case((i.c.flag_vendors.is_(None), i.c.detail), else_=None).label("detail"),
    ).select_from(_from()).where(d.c.id.in_(ids)).order_by(d.c.id)).all()


def _changes(session: Session, *, proposal: Policy, official: Policy, tally: _Tally, sector: str | None,
             limit: int, after: int | None, memo: _Origins) -> tuple[list[WhatIfChange], bool]:
    """Up to `limit` devices whose flag the proposal changes, by id after `after`, and whether more follow."""
    if not tally.changed_keys and not tally.unrecorded:
        return [], False
    device_id = Identification.__table__.c.device_id  # type: ignore[attr-defined]
    q = _candidates(sector, tally.changed_keys, bool(tally.unrecorded))
    out: list[WhatIfChange] = []
    last = after or 0
    while len(out) <= limit:
        ids = list(session.execute(q.where(device_id > last).order_by(device_id).limit(PAGE_BATCH)).scalars())
        for row in _rows(session, ids) if ids else ():
            others = row.flag_vendors if row.flag_vendors is not None else flag_vendors(
                row.vendor, row.vendor_id, row.detail)
            found = memo(row.country, row.owner_country, others, judged_on(row.last_seen, row.computed_at))
            whatif = flags(found, proposal)
            if whatif != bool(row.flagged):
                out.append(_change(row, found, whatif, proposal, official))
                if len(out) > limit:
                    break
        if len(ids) < PAGE_BATCH:
            break
        last = ids[-1]
    return out[:limit], len(out) > limit


def _change(row: Any, found: tuple[Origin, ...], whatif: bool, proposal: Policy, official: Policy) -> WhatIfChange:
    return WhatIfChange(
        device_id=row.id, organisation_id=row.organisation_id, organisation=row.organisation, sector=row.sector,
        vendor_id=row.vendor_id, vendor=row.vendor, product=row.product, country=row.country,
        owner_country=row.owner_country, last_seen=row.last_seen,
        change="would_be_flagged" if whatif else "would_no_longer_be_flagged", flagged=bool(row.flagged),
        flagged_whatif=whatif,
        origins=[WhatIfOrigin(dimension=o.dimension, vendor_id=o.vendor_id,  # type: ignore[arg-type]
                              country=o.country, on_policy=official.lists(o.country),
                              on_proposal=proposal.lists(o.country)) for o in found],
    )


# ---------------------------------------------------------------- the answer


def evaluate(session: Session, *, proposal: Policy, sector: str | None = None, limit: int = 100,
             after: int | None = None, official: Policy | None = None) -> tuple[WhatIfResult, int | None]:
    """Counts by sector × headquarters country under the official flags and under `proposal`, and one page of the
    devices whose flag would change, with the device id the next page starts after (None on the last). Reads only:
    the official view is what it was."""
    official = official or official_policy(session)
    memo = _Origins()
    tally = _tally(session, proposal, sector, memo)
    changes, more = _changes(session, proposal=proposal, official=official, tally=tally, sector=sector, limit=limit,
                             after=after, memo=memo)
    cells = [WhatIfCell(sector=s, country=c, devices=n.devices, flagged=n.flagged, flagged_whatif=n.flagged_whatif)
             for (s, c), n in sorted(tally.cells.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or ""))]
    proposed, current = set(proposal.countries), set(official.countries)
    result = WhatIfResult(
        countries=sorted(proposed), policy_version=official.version, policy_countries=sorted(current),
        added=sorted(proposed - current), removed=sorted(current - proposed), sector=sector, cells=cells,
        total_devices=sum(c.devices for c in cells), total_flagged=sum(c.flagged for c in cells),
        total_flagged_whatif=sum(c.flagged_whatif for c in cells), would_be_flagged=tally.would_be_flagged,
        would_no_longer_be_flagged=tally.would_no_longer_be_flagged, changes=changes, computed_at=utcnow(),
    )
    return result, changes[-1].device_id if more else None


def cursor_scope(proposal: Policy, sector: str | None) -> str:
    """What a page cursor belongs to: one proposal and sector, so that it cannot page through another."""
    return f"whatif:{','.join(proposal.countries)}:{sector or ''}"

