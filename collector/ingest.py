"""Ingest: decode, validate and store one report in one transaction, idempotently on its report_id.

    decode_body   wire bytes → JSON bytes (gzip with a running size limit: bombs are refused early)
    parse_report  JSON bytes → validated Report and the hash of its canonical form
    store_report  Report → rows (report, devices, sightings, observations, agent hints) → Receipt

Storage is set-based: a handful of statements per report whatever its size, never a statement per row.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from collector.errors import ApiError
from collector.models import Agent, Device, Identification, Observation, Report, Sighting, utcnow
from collector.schemas import Counts, Receipt
from fingerprints.report import SCHEMA_ID, IdentificationHint
from fingerprints.report import Report as ReportDocument

_CHUNK = 900  # bound parameters per IN (...) list; SQLite allows 32766, PostgreSQL 65535


# ---------------------------------------------------------------- decode and parse


def decode_body(body: bytes, content_encoding: str | None, *, max_decompressed: int) -> bytes:
    """The JSON bytes of a request body, gunzipped when it is gzip; refuses more than `max_decompressed` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    if encoding == "identity" and not body.startswith(b"\x1f\x8b"):
        if len(body) > max_decompressed:
            raise ApiError(413, "too_large", f"the report exceeds {max_decompressed} bytes")
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    data = body
    try:
        while data:
            # Inflate in bounded steps so a decompression bomb is stopped at the limit, not after it.
            out += inflater.decompress(data, max_decompressed + 1 - len(out))
            if len(out) > max_decompressed:
                raise ApiError(413, "too_large", f"the report inflates beyond {max_decompressed} bytes")
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as exc:
        raise ApiError(400, "bad_gzip", f"the body is not valid gzip: {exc}") from exc
    if not inflater.eof:
        raise ApiError(400, "bad_gzip", "the gzip stream is truncated")
    return bytes(out)


@dataclass(frozen=True)
class ParsedReport:
    report: ReportDocument
    content_sha256: str


def parse_report(data: bytes) -> ParsedReport:
    """Validate a report document; the hash identifies its content whatever the whitespace or key order."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ApiError(422, "invalid_report", "a report is a JSON object")
    version = doc.get("schema")
    if version is None:
        raise ApiError(422, "invalid_report", "the report names no schema; expected " + SCHEMA_ID)
    if version != SCHEMA_ID:
        raise ApiError(422, "unsupported_schema", f"schema {str(version)[:60]!r} is not supported; expected {SCHEMA_ID}")
    try:
        report = ReportDocument.model_validate(doc)
    except ValidationError as exc:
        details = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"][:300], "type": e["type"]} for e in exc.errors()[:50]
        ]
        raise ApiError(422, "invalid_report", f"the report is invalid ({exc.error_count()} errors)", details) from exc
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ParsedReport(report, hashlib.sha256(canonical.encode()).hexdigest())


# ---------------------------------------------------------------- store


def observation_key(kind: str, value: str, port: int | None, proto: str | None) -> str:
    """The deduplication key of an observation on one device."""
    h = hashlib.sha1(f"{kind}\x00{port}\x00{proto}\x00{value}".encode(), usedforsecurity=False)
    return h.hexdigest()


@dataclass
class _DeviceIn:
    identity_key: str
    mac: str | None
    ip: str | None
    hostname: str | None
    is_agent_host: bool
    seen_at: datetime
    hint: IdentificationHint | None = None
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)


def _add_observations(dev: _DeviceIn, observations: Iterable[Any]) -> None:
    for o in observations:
        key = observation_key(o.kind, o.value, o.port, o.proto)
        seen = dev.observations.get(key)
        if seen is None:
            dev.observations[key] = {
                "obs_key": key, "kind": o.kind, "value": o.value, "port": o.port, "proto": o.proto,
                "source": o.source, "first_seen": o.seen_at, "last_seen": o.seen_at,
            }
        else:
            seen["first_seen"] = min(seen["first_seen"], o.seen_at)
            seen["last_seen"] = max(seen["last_seen"], o.seen_at)
        dev.seen_at = max(dev.seen_at, o.seen_at)


def _collect_devices(report: ReportDocument, site_id: int) -> dict[str, _DeviceIn]:
    """Group the report's devices by identity (MAC where known, else address within the site)."""
    found: dict[str, _DeviceIn] = {}
    finished = report.scan.finished_at
    for d in report.devices:
        ip = str(d.ips[0]) if d.ips else None
        key = f"mac:{d.mac}" if d.mac else f"ip:{site_id}:{ip}"
        dev = found.get(key)
        if dev is None:
            dev = found[key] = _DeviceIn(key, d.mac, ip, d.hostnames[0] if d.hostnames else None, False, finished)
        dev.ip = dev.ip or ip
        dev.hint = d.identification or dev.hint
        _add_observations(dev, d.observations)
    if report.host is not None:
        h = report.host
        key = f"mac:{h.macs[0]}" if h.macs else f"host:{report.agent.id}"
        dev = found.get(key)
        if dev is None:
            dev = found[key] = _DeviceIn(
                key, h.macs[0] if h.macs else None, str(h.ips[0]) if h.ips else None, h.hostname, True, finished
            )
        dev.is_agent_host = True
        _add_observations(dev, h.observations)
    return found


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert(session: Session, table: Any) -> Any:
    """An INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    name = session.get_bind().dialect.name
    dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


def duplicate_receipt(session: Session, *, agent: Agent, report_id: str, content_sha256: str) -> Receipt | None:
    """The original receipt when this report was stored before; 409 when its id was used for other content."""
    row = session.execute(
        select(Report.content_sha256, Report.receipt, Report.organisation_id).where(Report.report_id == report_id)
    ).first()
    if row is None:
        return None
    if row.content_sha256 != content_sha256 or row.organisation_id != agent.organisation_id:
        raise ApiError(409, "report_id_conflict", f"report {report_id} was already stored with other content")
    receipt = Receipt.model_validate(row.receipt)
    receipt.duplicate = True
    return receipt


def store_report(
    session: Session, *, agent: Agent, parsed: ParsedReport, raw_gzip: bytes, raw_size: int
) -> tuple[Receipt, bool]:
    """Store a report and everything derived from it; returns the receipt and whether it was new.

    The caller owns the transaction: commit on return, roll back on any exception, so a failure stores nothing.
    """
    report = parsed.report
    report_id = str(report.report_id)
    if str(report.agent.id) != agent.id:
        raise ApiError(403, "agent_mismatch", "the report names another agent than the key that submitted it")
    earlier = duplicate_receipt(session, agent=agent, report_id=report_id, content_sha256=parsed.content_sha256)
    if earlier is not None:
        return earlier, False

    now = utcnow()
    devices = _collect_devices(report, agent.site_id)
    observation_total = sum(len(d.observations) for d in devices.values())
    row = Report(
        report_id=report_id, agent_id=agent.id, organisation_id=agent.organisation_id, site_id=agent.site_id,
        received_at=now, content_sha256=parsed.content_sha256, raw_gzip=raw_gzip, raw_size=raw_size,
        profile=report.scan.profile, scan_started_at=report.scan.started_at,
        scan_finished_at=report.scan.finished_at, device_count=len(devices), observation_count=observation_total,
        receipt={},
    )
    session.add(row)
    session.flush()
    rid = row.id
    assert rid is not None

    device_ids, new_devices = _upsert_devices(session, agent=agent, report_pk=rid, devices=devices)
    if devices:
        session.execute(
            _insert(session, Sighting.__table__),  # type: ignore[attr-defined]
            [{"device_id": device_ids[k], "report_id": rid, "seen_at": d.seen_at, "ip": d.ip}
             for k, d in devices.items()],
        )
    obs_new, obs_updated = _upsert_observations(
        session, report_pk=rid, devices=devices, device_ids=device_ids, existing_devices=set(device_ids) - new_devices
    )
    _store_hints(session, devices=devices, device_ids=device_ids, now=now)

    receipt = Receipt(
        report_id=report_id, received_at=now,
        devices=Counts(received=len(devices), new=len(new_devices), updated=len(devices) - len(new_devices)),
        observations=Counts(received=observation_total, new=obs_new, updated=obs_updated),
    )
    row.receipt = receipt.model_dump(mode="json")
    session.add(row)
    session.execute(update(Agent).where(Agent.id == agent.id).values(last_seen_at=now))  # type: ignore[arg-type]
    session.flush()
    return receipt, True


def _upsert_devices(
    session: Session, *, agent: Agent, report_pk: int, devices: dict[str, _DeviceIn]
) -> tuple[dict[str, int], set[str]]:
    """Device ids by identity key, and the keys that are new to this organisation."""
    table = Device.__table__  # type: ignore[attr-defined]
    org = agent.organisation_id
    keys = list(devices)
    existing: dict[str, int] = {}
    for chunk in _chunks(keys):
        for key, dev_id in session.execute(
            select(table.c.identity_key, table.c.id).where(
                table.c.organisation_id == org, table.c.identity_key.in_(chunk)
            )
        ):
            existing[key] = dev_id
    fresh = [
        {
            "organisation_id": org, "site_id": agent.site_id, "identity_key": k, "mac": d.mac, "ip": d.ip,
            "hostname": d.hostname, "is_agent_host": d.is_agent_host, "first_seen": d.seen_at,
            "last_seen": d.seen_at, "first_report_id": report_pk, "last_report_id": report_pk,
        }
        for k, d in devices.items()
        if k not in existing
    ]
    ids = dict(existing)
    new_keys: set[str] = set()
    if fresh:
        session.execute(_insert(session, table), fresh)
        for chunk in _chunks([f["identity_key"] for f in fresh]):
            for key, dev_id, first_report in session.execute(
                select(table.c.identity_key, table.c.id, table.c.first_report_id).where(
                    table.c.organisation_id == org, table.c.identity_key.in_(chunk)
                )
            ):
                ids[key] = dev_id
                if first_report == report_pk:
                    new_keys.add(key)
                else:  # another report created it in the meantime: treat as existing
                    existing[key] = dev_id
    if existing:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                last_seen=bindparam("b_seen"), ip=bindparam("b_ip"), last_report_id=report_pk,
                hostname=bindparam("b_host"),
            ),
            [
                {"b_id": dev_id, "b_seen": devices[k].seen_at, "b_ip": devices[k].ip, "b_host": devices[k].hostname}
                for k, dev_id in existing.items()
            ],
            execution_options={"synchronize_session": False},
        )
    return ids, new_keys


def _upsert_observations(
    session: Session, *, report_pk: int, devices: dict[str, _DeviceIn], device_ids: dict[str, int],
    existing_devices: set[str],
) -> tuple[int, int]:
    """Insert new observations, extend the seen-window of known ones; returns (new, updated)."""
    table = Observation.__table__  # type: ignore[attr-defined]
    known: dict[tuple[int, str], int] = {}
    existing_ids = [device_ids[k] for k in existing_devices]
    for chunk in _chunks(existing_ids):
        for dev_id, key, obs_id in session.execute(
            select(table.c.device_id, table.c.obs_key, table.c.id).where(table.c.device_id.in_(chunk))
        ):
            known[(dev_id, key)] = obs_id
    fresh: list[dict[str, Any]] = []
    seen_again: list[dict[str, Any]] = []
    for k, dev in devices.items():
        dev_id = device_ids[k]
        for key, o in dev.observations.items():
            obs_id = known.get((dev_id, key))
            if obs_id is None:
                fresh.append(
                    {**o, "device_id": dev_id, "first_report_id": report_pk, "last_report_id": report_pk,
                     "times_seen": 1}
                )
            else:
                seen_again.append({"b_id": obs_id, "b_seen": o["last_seen"]})
    if fresh:
        session.execute(_insert(session, table), fresh)
    if seen_again:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(last_seen=bindparam("b_seen"), last_report_id=report_pk, times_seen=table.c.times_seen + 1),
            seen_again,
            execution_options={"synchronize_session": False},
        )
    return len(fresh), len(seen_again)


def _store_hints(session: Session, *, devices: dict[str, _DeviceIn], device_ids: dict[str, int], now: datetime) -> None:
    """Keep the agent's own verdict where the collector has none of its own yet."""
    hinted = {device_ids[k]: d.hint for k, d in devices.items() if d.hint is not None and d.hint.vendor_id}
    if not hinted:
        return
    table = Identification.__table__  # type: ignore[attr-defined]
    ids = list(hinted)
    for chunk in _chunks(ids):
        session.execute(table.delete().where(table.c.device_id.in_(chunk), table.c.origin == "agent"))
    session.execute(
        _insert(session, table),
        [
            {
                "device_id": dev_id, "origin": "agent", "vendor_id": h.vendor_id, "vendor": h.vendor,
                "product": h.product, "device_type": h.device_type, "country": h.country,
                "owner_country": h.owner_country, "flagged": bool(h.flagged), "confidence": h.confidence or 0.0,
                "detail": {"note": "the agent's own identification, not yet attributed by the collector"},
                "catalogue_version": h.catalogue_version, "policy_version": None, "computed_at": now,
            }
            for dev_id, h in hinted.items()
        ],
    )


def compress_for_storage(data: bytes) -> bytes:
    """The raw document as kept at rest."""
    return gzip.compress(data, compresslevel=6, mtime=0)
