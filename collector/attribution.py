"""Attribution: identify devices from their stored observations with `fingerprints`, keep the verdict with the
catalogue and policy versions that produced it, and record what changed.

    attribute(session, device_ids)   one batch: identify, replace the verdicts, record the changes
    attribute_report(engine, id)     every device a stored report touched (after ingest)
    reattribute(engine)              every device, in batches, resumable; run when the catalogue or policy changes
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

import fingerprints
from collector.db import HeldElsewhere, chunks, exclusive, writer_lock
from collector.models import (
    AttributionRun,
    Device,
    Identification,
    IdentificationChange,
    Observation,
    Report,
    Sighting,
    utcnow,
)
from collector.policy import policy_in_force
from fingerprints.policy import Policy

log = logging.getLogger("herkomst.collector.attribution")


@dataclass(frozen=True)
class _Obs:
    kind: str
    value: str
    port: int | None


def current_versions(today: date | None = None, *, policy: Policy | None = None) -> tuple[str, str]:
    """The catalogue and policy versions this collector attributes with (`policy`: the one in force, see
    collector/policy.py; the shipped one when not given). The catalogue's carries a digest of all identification
    data, so that a rule or vendor changed without a version bump still triggers re-attribution, and the last date on
    which an ownership or list fact began or ended, so that such a date passing does too."""
    epoch = fingerprints.validity_epoch(today or utcnow().date())
    stamp = epoch.strftime("%Y%m%d") if epoch else "-"
    # the columns hold 32 characters: "2026.12.7+1a2b3c4d@20250702"
    version = policy.version if policy is not None else fingerprints.policy_version()
    return f"{fingerprints.catalogue_version()}+{fingerprints.data_digest()[:8]}@{stamp}", version


def _in_force(engine: Engine) -> Policy:
    with Session(engine) as session:
        return policy_in_force(session).policy


def _detail(ident: fingerprints.Identification) -> dict[str, Any]:
    return ident.model_dump(
        mode="json",
        include={"flag_reasons", "evidence", "conflicts", "components", "weak", "unknown_reason", "owner",
                 "oem_makers", "firmware", "model", "lists", "flagged_by"},
    )


@dataclass(frozen=True)
class _Previous:
    vendor_id: str | None
    flagged: bool
    catalogue_version: str | None
    policy_version: str | None
    origin: str = "collector"  # "agent": the agent's own hint, stored until the collector attributes the device


def _reason(old: _Previous | None, new: fingerprints.Identification) -> str:
    """Why a verdict changed: a new policy (same catalogue, other policy), better data (another catalogue), or
    the device's own evidence (a new report)."""
    if old is None or old.origin != "collector":
        return "evidence"
    if old.catalogue_version == new.catalogue_version and old.policy_version != new.policy_version:
        return "policy"
    if old.catalogue_version != new.catalogue_version:
        return "catalogue"
    return "evidence"


def _changes(device_id: int, old: _Previous | None, new: fingerprints.Identification,
             at: datetime) -> list[dict[str, Any]]:
    old_vendor, old_flag = (old.vendor_id, old.flagged) if old is not None else (None, None)
    base = {"device_id": device_id, "at": at, "old_vendor_id": old_vendor, "new_vendor_id": new.vendor_id,
            "old_flagged": old_flag, "new_flagged": new.flagged, "catalogue_version": new.catalogue_version,
            "policy_version": new.policy_version, "reason": _reason(old, new)}
    out = []
    if old is None or old.origin != "collector":  # the first attribution here; the agent's hint is kept as "old"
        if new.vendor_id:
            out.append({**base, "change": "identified"})
    elif old_vendor != new.vendor_id:
        out.append({**base, "change": "vendor_changed"})
    if bool(old_flag) != new.flagged:
        out.append({**base, "change": "flagged" if new.flagged else "unflagged"})
    return out


def attribute(session: Session, *, device_ids: Sequence[int], now: datetime | None = None,
              policy: Policy | None = None) -> int:
    """Identify these devices afresh under `policy` (default: the one in force); returns how many changes were
    recorded. The caller commits."""
    now = now or utcnow()
    policy = policy or policy_in_force(session, at=now).policy
    o = Observation.__table__.c  # type: ignore[attr-defined]
    i = Identification.__table__  # type: ignore[attr-defined]
    d = Device.__table__.c  # type: ignore[attr-defined]
    evidence: dict[int, list[_Obs]] = defaultdict(list)
    previous: dict[int, _Previous] = {}
    seen_on: dict[int, date] = {}
    for chunk in chunks(device_ids):
        for dev_id, last_seen in session.execute(select(d.id, d.last_seen).where(d.id.in_(chunk))):
            if last_seen is not None:
                seen_on[dev_id] = last_seen.date()
        for dev_id, kind, value, port in session.execute(
            select(o.device_id, o.kind, o.value, o.port).where(o.device_id.in_(chunk)).order_by(o.device_id, o.id)
        ):
            evidence[dev_id].append(_Obs(kind, value, port))
        for dev_id, vendor_id, flagged, cat, pol, origin in session.execute(
            select(i.c.device_id, i.c.vendor_id, i.c.flagged, i.c.catalogue_version, i.c.policy_version,
                   i.c.origin).where(i.c.device_id.in_(chunk))
        ):
            previous[dev_id] = _Previous(vendor_id, bool(flagged), cat, pol, origin)
    rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for dev_id in device_ids:
        # Judged as of the day the device was last seen: who owned its maker then (a report on last year shows
        # last year's owners, not today's)
        ident = fingerprints.identify(evidence.get(dev_id, []), policy=policy,
                                      when=min(seen_on.get(dev_id, now.date()), now.date()))
        changes += _changes(dev_id, previous.get(dev_id), ident, now)
        rows.append({
            "device_id": dev_id, "origin": "collector", "vendor_id": ident.vendor_id,
            "vendor": ident.vendor[:255] if ident.vendor else None,
            "product": ident.product[:255] if ident.product else None,
            "device_type": ident.device_type[:64] if ident.device_type else None,
            "category": _category(ident), "country": ident.country, "owner_country": ident.owner_country,
            "flagged": ident.flagged, "confidence": ident.confidence, "detail": _detail(ident),
            "catalogue_version": ident.catalogue_version, "policy_version": ident.policy_version, "computed_at": now,
        })
    for chunk in chunks(device_ids):
        session.execute(i.delete().where(i.c.device_id.in_(chunk)))
    if rows:
        session.execute(i.insert(), rows)
    if changes:
        session.execute(IdentificationChange.__table__.insert(), changes)  # type: ignore[attr-defined]
    return len(changes)


def _category(ident: fingerprints.Identification) -> str | None:
    categories = getattr(ident, "categories", None)
    if categories:
        return str(categories[0])[:40]
    return ident.device_type[:40] if ident.device_type else None


def attribute_report(engine: Engine, report_id: str) -> int:
    """Attribute every device a stored report touched; returns the number of changes."""
    s, r = Sighting.__table__.c, Report.__table__.c  # type: ignore[attr-defined]
    with Session(engine) as session:
        ids = list(session.execute(
            select(s.device_id).join(Report.__table__, r.id == s.report_id).where(r.report_id == report_id)  # type: ignore[attr-defined]
        ).scalars())
    changes = 0
    for start in range(0, len(ids), 1000):
        with writer_lock(engine), Session(engine) as session:
            changes += attribute(session, device_ids=ids[start : start + 1000])
            session.commit()
    return changes


def needs_reattribution(engine: Engine) -> bool:
    """Whether some device has not been attributed with the current catalogue and the policy in force."""
    cat, pol = current_versions(policy=_in_force(engine))
    with Session(engine) as session:
        done = session.execute(
            select(func.count()).select_from(AttributionRun).where(
                col(AttributionRun.catalogue_version) == cat, col(AttributionRun.policy_version) == pol,
                col(AttributionRun.finished_at).is_not(None),
            )
        ).scalar_one()
        if done:
            return False
        return bool(session.execute(select(func.count()).select_from(Device)).scalar_one())


class ReattributionBusy(HeldElsewhere):
    """Another collector process is re-attributing; it takes in whatever is current when its run ends."""


def reattribute(
    engine: Engine, *, batch: int = 1000, progress: Callable[[int, int], None] | None = None
) -> AttributionRun:
    """Recompute every device with the current catalogue and the policy in force, resuming an interrupted run of
    the same versions. Idempotent: a second run with the same data records no changes.

    One runner across every replica on the database (`collector.db.exclusive`): a second caller gets
    ReattributionBusy at once instead of doing the same work again. The runner looks again when its run ends and
    runs once more if the policy or data changed meanwhile, so a change made during a run is never left waiting."""
    try:
        with exclusive(engine, "reattribute"):
            while True:
                run = _reattribute_once(engine, batch=batch, progress=progress)
                if not needs_reattribution(engine):
                    return run
    except HeldElsewhere as exc:
        raise ReattributionBusy(str(exc)) from exc


def _reattribute_once(
    engine: Engine, *, batch: int, progress: Callable[[int, int], None] | None
) -> AttributionRun:
    policy = _in_force(engine)
    cat, pol = current_versions(policy=policy)
    with writer_lock(engine), Session(engine, expire_on_commit=False) as session:
        run = session.execute(
            select(AttributionRun).where(
                col(AttributionRun.catalogue_version) == cat, col(AttributionRun.policy_version) == pol,
                col(AttributionRun.finished_at).is_(None),
            ).order_by(col(AttributionRun.id).desc())
        ).scalars().first()
        if run is None:
            run = AttributionRun(catalogue_version=cat, policy_version=pol, started_at=utcnow())
            session.add(run)
            session.commit()
        total = session.execute(select(func.count()).select_from(Device)).scalar_one()
    d = Device.__table__.c  # type: ignore[attr-defined]
    while True:
        with writer_lock(engine), Session(engine, expire_on_commit=False) as session:
            ids = list(session.execute(
                select(d.id).where(d.id > run.last_device_id).order_by(d.id).limit(batch)
            ).scalars())
            if not ids:
                run = session.merge(run)
                run.finished_at = utcnow()
                session.commit()
                break
            changed = attribute(session, device_ids=ids, policy=policy)
            run = session.merge(run)
            run.last_device_id = ids[-1]
            run.devices_done += len(ids)
            run.changes += changed
            session.commit()
        if progress is not None:
            progress(run.devices_done, total)
    log.info("re-attribution with catalogue %s, policy %s: %d devices, %d changes", cat, pol, run.devices_done,
             run.changes)
    return run
