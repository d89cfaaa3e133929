"""Ingest: decode, validate and store one report in one transaction, idempotently on its report_id.

    decode_body        wire bytes → JSON bytes (gzip with a running size limit: bombs are refused early)
    duplicate_receipt  JSON bytes already stored by this agent → the original receipt, without parsing again
    parse_report       JSON bytes → validated Report (pydantic-core parses and validates in one pass)
    store_report       Report → rows (report, devices, sightings, observations, agent hints) → Receipt

The content of a report is identified by the SHA-256 of its JSON bytes: the agent spools the document and resends
those same bytes, so a redelivery is recognised before any parsing.

Storage is set-based: a handful of statements per report whatever its size, never a statement per row.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from collector.db import chunks
from collector.errors import ApiError, error_details
from collector.models import Agent, Device, Identification, Observation, Report, utcnow
from collector.schemas import Counts, Receipt
from fingerprints.report import FUTURE_TOLERANCE, SCHEMA_ID, IdentificationHint
from fingerprints.report import Report as ReportDocument

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


def content_hash(data: bytes) -> str:
    """The identity of a report's content: the SHA-256 of its JSON bytes as the agent sent them."""
    return hashlib.sha256(data).hexdigest()


def parse_report(data: bytes) -> ReportDocument:
    """Validate a report document (parsed and validated in pydantic-core, in one pass)."""
    try:
        report = ReportDocument.model_validate_json(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ApiError(400, "malformed_json", f"the body is not JSON: {errors[0]['msg']}") from exc
        wrong = [e for e in errors if tuple(e["loc"]) == ("schema",) and e["type"] == "literal_error"]
        if wrong:
            version = str(wrong[0].get("input", ""))[:60]
            message = f"schema {version!r} is not supported; expected {SCHEMA_ID}"
            raise ApiError(422, "unsupported_schema", message) from exc
        raise ApiError(422, "invalid_report", f"the report is invalid ({exc.error_count()} errors)",
                       error_details(errors)) from exc
    return report


# ---------------------------------------------------------------- store


def observation_key(kind: str, value: str, port: int | None, proto: str | None) -> int:
    """The deduplication key of an observation on one device: 64 bits of BLAKE2b, as a signed integer."""
    digest = hashlib.blake2b(f"{kind}\x00{port}\x00{proto}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _DeviceIn:
    identity_key: str
    mac: str | None
    ip: str | None
    hostname: str | None
    is_agent_host: bool
    seen_at: float  # POSIX time; see _Times
    hint: IdentificationHint | None = None
    #: obs_key -> (kind, value, port, proto, source, first_seen, last_seen), times as POSIX floats
    observations: dict[int, tuple[Any, ...]] = field(default_factory=dict)


class _Times:
    """Timestamps as POSIX floats while grouping, and as the database stores them when writing.

    A report holds few distinct times for many observations; converting each distinct time once (keyed by a float,
    which hashes far faster than an aware datetime) saves most of the per-row cost.
    """

    def __init__(self, pg: bool) -> None:
        self.pg = pg
        self.stored: dict[float, Any] = {}

    def key(self, value: datetime) -> float:
        k = value.timestamp()
        if k not in self.stored:
            naive = value.astimezone(UTC).replace(tzinfo=None)
            self.stored[k] = naive if self.pg else naive.isoformat(" ", "microseconds")
        return k


def _add_observations(dev: _DeviceIn, observations: Iterable[Any], times: _Times) -> None:
    store = dev.observations
    latest = dev.seen_at
    key_of = times.key
    for o in observations:
        key = observation_key(o.kind, o.value, o.port, o.proto)
        seen = store.get(key)
        at = key_of(o.seen_at)
        if seen is None:
            store[key] = (o.kind, o.value, o.port, o.proto, o.source, at, at)
        elif at < seen[5] or at > seen[6]:
            store[key] = (*seen[:5], min(seen[5], at), max(seen[6], at))
        if at > latest:
            latest = at
    dev.seen_at = latest


def _collect_devices(report: ReportDocument, site_id: int, times: _Times) -> dict[str, _DeviceIn]:
    """Group the report's devices by identity (MAC where known, else address within the site)."""
    found = _group_devices(report, site_id, times)
    latest = (utcnow() + FUTURE_TOLERANCE).timestamp()
    future = [d.identity_key for d in found.values() if d.seen_at > latest]
    if future:
        raise ApiError(422, "invalid_report", f"{len(future)} device(s) have observations dated in the future; "
                       "check the agent's clock", [{"devices": future[:20]}])
    return found


def _group_devices(report: ReportDocument, site_id: int, times: _Times) -> dict[str, _DeviceIn]:
    found: dict[str, _DeviceIn] = {}
    finished = times.key(report.scan.finished_at)
    for d in report.devices:
        ip = str(d.ips[0]) if d.ips else None
        key = f"mac:{d.mac}" if d.mac else f"ip:{site_id}:{ip}"
        dev = found.get(key)
        if dev is None:
            dev = found[key] = _DeviceIn(key, d.mac, ip, d.hostnames[0] if d.hostnames else None, False, finished)
        dev.ip = dev.ip or ip
        dev.hint = d.identification or dev.hint
        _add_observations(dev, d.observations, times)
    if report.host is not None:
        h = report.host
        key = f"mac:{h.macs[0]}" if h.macs else f"host:{report.agent.id}"
        dev = found.get(key)
        if dev is None:
            dev = found[key] = _DeviceIn(
                key, h.macs[0] if h.macs else None, str(h.ips[0]) if h.ips else None, h.hostname, True, finished
            )
        dev.is_agent_host = True
        _add_observations(dev, h.observations, times)
    return found


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a report is parsed and stored.

    A large report builds a few hundred thousand acyclic objects; the collector would traverse them again and
    again as they accumulate (measured: two thirds of validation time). Reference counting still frees them; the
    collector resumes when the last concurrent ingest ends.
    """
    global _gc_pausers
    with _gc_lock:
        _gc_pausers += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0:
                gc.enable()


def _insert(session: Session, table: Any) -> Any:
    """An INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


class _Bulk:
    """Set-based writes on the session's own connection, below the ORM.

    Per-row ORM and Core parameter processing costs more than the database itself at 100,000 rows, so values are
    converted once here and handed to the driver: COPY (through a temporary table where rows may conflict) on
    PostgreSQL, executemany on SQLite.
    """

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()
        self.pg = self.conn.dialect.name == "postgresql"
        self.times = _Times(self.pg)
        self._staged = 0

    def ts(self, key: float) -> Any:
        """A timestamp, keyed as _Times keys it, as the column stores it."""
        return self.times.stored[key]

    def _copy(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)

    def _stage(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> str:
        """COPY rows into a temporary table shaped like `table`; returns its name."""
        self._staged += 1
        name = f"_stage_{table}_{self._staged}"
        self.conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {name} AS SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
        )
        self._copy(name, columns, rows)
        return name

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], *, may_conflict: bool) -> None:
        if not rows:
            return
        cols = ", ".join(columns)
        if self.pg:
            if not may_conflict:
                self._copy(table, columns, rows)
                return
            staged = self._stage(table, columns, rows)
            self.conn.exec_driver_sql(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staged} ON CONFLICT DO NOTHING"
            )
            self.conn.exec_driver_sql(f"DROP TABLE {staged}")
            return
        marks = ", ".join("?" * len(columns))
        self.conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows)

    def insert_returning(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], *,
                         returning: Sequence[str], where: dict[str, Any], key_column: str) -> list[tuple[Any, ...]]:
        """Insert rows that may conflict; return `returning` for every row's key, inserted here or already there.

        `where` narrows the look-up of keys (e.g. to one organisation) on SQLite, which has no RETURNING for
        executemany; PostgreSQL returns the inserted rows from the statement itself.
        """
        if not rows:
            return []
        cols, ret = ", ".join(columns), ", ".join(returning)
        keys = [row[columns.index(key_column)] for row in rows]
        found: list[tuple[Any, ...]] = []
        if self.pg:
            staged = self._stage(table, columns, rows)
            found = [tuple(r) for r in self.conn.exec_driver_sql(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staged} ON CONFLICT DO NOTHING RETURNING {ret}"
            )]
            self.conn.exec_driver_sql(f"DROP TABLE {staged}")
            missing = set(keys) - {r[returning.index(key_column)] for r in found}
            keys = [k for k in keys if k in missing]  # conflicts: rows another transaction created
        else:
            marks = ", ".join("?" * len(columns))
            self.conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows)
        conditions = " AND ".join(f"{c} = ?" for c in where)
        for chunk in chunks(keys):
            sql = (f"SELECT {ret} FROM {table} WHERE {conditions} AND {key_column} IN "
                   f"({', '.join('?' * len(chunk))})")
            found += [tuple(r) for r in self.conn.exec_driver_sql(
                sql.replace("?", "%s") if self.pg else sql, (*where.values(), *chunk))]
        return found

    def update(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], *, assignments: str,
               guard: str = "") -> None:
        """UPDATE `table` SET `assignments` WHERE id = new.id [AND `guard`], once per row.

        Rows are tuples of `columns` (one of them `id`); `assignments` and `guard` name the incoming values as
        `new.<column>` and the stored row as `<table>.<column>`.
        """
        if not rows:
            return
        where = f"{table}.id = new.id" + (f" AND {guard}" if guard else "")
        if self.pg:
            staged = self._stage(table, columns, rows)
            self.conn.exec_driver_sql(f"UPDATE {table} SET {assignments} FROM {staged} AS new WHERE {where}")
            self.conn.exec_driver_sql(f"DROP TABLE {staged}")
            return
        named = [dict(zip(columns, row, strict=True)) for row in rows]
        sql = f"UPDATE {table} SET {assignments} WHERE {where}".replace("new.", ":")
        self.conn.exec_driver_sql(sql, named)  # type: ignore[arg-type]


def duplicate_receipt(
    session: Session, *, agent: Agent, report_id: str | None = None, content_sha256: str
) -> Receipt | None:
    """The original receipt when this content was stored before by this agent (looked up by report id, or by
    content alone before the document is even parsed); 409 when its report id was used for other content."""
    r = Report.__table__.c  # type: ignore[attr-defined]
    q = select(r.content_sha256, r.receipt, r.agent_id)
    q = q.where(r.report_id == report_id) if report_id else q.where(r.content_sha256 == content_sha256)
    row = session.execute(q.limit(1)).first()
    if row is None:
        return None
    if row.content_sha256 != content_sha256 or row.agent_id != agent.id:
        if report_id is None:
            return None  # same bytes from another agent: let full validation say what is wrong
        raise ApiError(409, "report_id_conflict", f"report {report_id} was already stored with other content")
    receipt = Receipt.model_validate(row.receipt)
    receipt.duplicate = True
    return receipt


def store_report(
    session: Session, *, agent: Agent, report: ReportDocument, content_sha256: str, raw_gzip: bytes, raw_size: int
) -> tuple[Receipt, bool]:
    """Store a report and everything derived from it; returns the receipt and whether it was new.

    The caller owns the transaction: commit on return, roll back on any exception, so a failure stores nothing.
    """
    report_id = str(report.report_id)
    if str(report.agent.id) != agent.id:
        raise ApiError(403, "agent_mismatch", "the report names another agent than the key that submitted it")
    earlier = duplicate_receipt(session, agent=agent, report_id=report_id, content_sha256=content_sha256)
    if earlier is not None:
        return earlier, False

    now = utcnow()
    bulk = _Bulk(session)
    devices = _collect_devices(report, agent.site_id, bulk.times)
    observation_total = sum(len(d.observations) for d in devices.values())
    row = Report(
        report_id=report_id, agent_id=agent.id, organisation_id=agent.organisation_id, site_id=agent.site_id,
        received_at=now, content_sha256=content_sha256, raw_gzip=raw_gzip, raw_size=raw_size,
        profile=report.scan.profile, scan_started_at=report.scan.started_at,
        scan_finished_at=report.scan.finished_at, device_count=len(devices), observation_count=observation_total,
        receipt={},
    )
    session.add(row)
    session.flush()
    rid = row.id
    assert rid is not None

    device_ids, new_devices = _upsert_devices(session, bulk, agent=agent, report_pk=rid, devices=devices)
    bulk.insert(
        "sighting", ("device_id", "report_id", "seen_at", "ip"),
        [(device_ids[k], rid, bulk.ts(d.seen_at), d.ip) for k, d in devices.items()], may_conflict=False,
    )
    obs_new, obs_updated = _upsert_observations(
        session, bulk, report_pk=rid, devices=devices, device_ids=device_ids, new_devices=new_devices
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
    session: Session, bulk: _Bulk, *, agent: Agent, report_pk: int, devices: dict[str, _DeviceIn]
) -> tuple[dict[str, int], set[str]]:
    """Device ids by identity key, and the keys that are new to this organisation."""
    table = Device.__table__  # type: ignore[attr-defined]
    org = agent.organisation_id
    existing: dict[str, int] = {}
    for chunk in chunks(list(devices)):
        for key, dev_id in session.execute(
            select(table.c.identity_key, table.c.id).where(
                table.c.organisation_id == org, table.c.identity_key.in_(chunk)
            )
        ):
            existing[key] = dev_id
    # A concurrent report may create the same device first: conflicts are skipped, and such devices are then
    # treated as existing ones.
    created = bulk.insert_returning(
        "device",
        ("organisation_id", "site_id", "identity_key", "mac", "ip", "hostname", "is_agent_host", "first_seen",
         "last_seen", "first_report_id", "last_report_id"),
        [
            (org, agent.site_id, k, d.mac, d.ip, d.hostname, d.is_agent_host, bulk.ts(d.seen_at), bulk.ts(d.seen_at),
             report_pk, report_pk)
            for k, d in devices.items()
            if k not in existing
        ],
        returning=("identity_key", "id", "first_report_id"),
        where={"organisation_id": org},
        key_column="identity_key",
    )
    ids = dict(existing)
    new_keys: set[str] = set()
    for key, dev_id, first_report in created:
        ids[key] = dev_id
        if first_report == report_pk:
            new_keys.add(key)
        else:
            existing[key] = dev_id
    bulk.update(
        "device", ("last_seen", "ip", "hostname", "id"),
        [(bulk.ts(devices[k].seen_at), devices[k].ip, devices[k].hostname, dev_id) for k, dev_id in existing.items()],
        assignments=f"last_seen = new.last_seen, ip = coalesce(new.ip, device.ip), "
        f"hostname = coalesce(new.hostname, device.hostname), last_report_id = {int(report_pk)}",
        guard="device.last_seen <= new.last_seen",
    )
    return ids, new_keys


_OBS_COLUMNS = ("device_id", "obs_key", "kind", "value", "port", "proto", "source", "first_seen", "last_seen",
                "first_report_id", "last_report_id", "times_seen")


def _upsert_observations(
    session: Session, bulk: _Bulk, *, report_pk: int, devices: dict[str, _DeviceIn], device_ids: dict[str, int],
    new_devices: set[str],
) -> tuple[int, int]:
    """Insert new observations, extend the seen-window of known ones; returns (new, updated)."""
    table = Observation.__table__  # type: ignore[attr-defined]
    known: dict[tuple[int, int], int] = {}
    for chunk in chunks([device_ids[k] for k in devices if k not in new_devices]):
        for dev_id, key, obs_id in session.execute(
            select(table.c.device_id, table.c.obs_key, table.c.id).where(table.c.device_id.in_(chunk))
        ):
            known[(dev_id, key)] = obs_id
    # Observations of devices this report created cannot exist elsewhere: they go in without conflict checks.
    fresh_of_new: list[tuple[Any, ...]] = []
    fresh_of_known: list[tuple[Any, ...]] = []
    seen_again: list[tuple[Any, ...]] = []
    ts = bulk.ts
    for k, dev in devices.items():
        dev_id = device_ids[k]
        target = fresh_of_new if k in new_devices else fresh_of_known
        for key, (kind, value, port, proto, source, first, last) in dev.observations.items():
            obs_id = known.get((dev_id, key))
            if obs_id is None:
                target.append((dev_id, key, kind, value, port, proto, source, ts(first), ts(last), report_pk,
                               report_pk, 1))
            else:
                seen_again.append((ts(last), obs_id))
    bulk.insert("observation", _OBS_COLUMNS, fresh_of_new, may_conflict=False)
    bulk.insert("observation", _OBS_COLUMNS, fresh_of_known, may_conflict=True)
    bulk.update(
        "observation", ("last_seen", "id"), seen_again,
        assignments=f"last_seen = new.last_seen, last_report_id = {int(report_pk)}, "
        "times_seen = observation.times_seen + 1",
        guard="observation.last_seen <= new.last_seen",
    )
    return len(fresh_of_new) + len(fresh_of_known), len(seen_again)


def _store_hints(session: Session, *, devices: dict[str, _DeviceIn], device_ids: dict[str, int], now: datetime) -> None:
    """Keep the agent's own verdict where the collector has none of its own yet."""
    hinted = {device_ids[k]: d.hint for k, d in devices.items() if d.hint is not None and d.hint.vendor_id}
    if not hinted:
        return
    table = Identification.__table__  # type: ignore[attr-defined]
    for chunk in chunks(list(hinted)):
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
