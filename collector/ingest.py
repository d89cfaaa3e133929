"""Ingest: decode, validate and store one report in one transaction, idempotently on its report_id.

    inspect_body       wire bytes → size and SHA-256 of the JSON (inflated once in bounded steps, kept nowhere:
                       bombs are refused at the limit)
    duplicate_receipt  content already stored by this agent → the original receipt, without parsing
    parse_report       the JSON, inflated again as it is read → validated header + devices grouped by identity
                       (streamed: one device's objects at a time, limits enforced while reading)
    store_report       ParsedReport → rows (report, devices, sightings, observations, agent hints) → Receipt

Memory is what the grouped devices take (about twice the JSON's size), not what a whole document of pydantic
objects would (ten times and more); collector/admission.py admits reports by that size.

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

import ijson
from ijson.common import ObjectBuilder
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from collector.db import chunks
from collector.errors import ApiError, error_details
from collector.fleet import record_health
from collector.models import Agent, Device, Identification, Observation, Report, utcnow
from collector.schemas import Counts, Receipt
from fingerprints.report import (
    FUTURE_TOLERANCE,
    MAX_DEVICES_PER_REPORT,
    MAX_OBSERVATIONS_PER_DEVICE,
    SCHEMA_ID,
    IdentificationHint,
)
from fingerprints.report import Device as DeviceDocument
from fingerprints.report import Report as ReportDocument

# ---------------------------------------------------------------- decode and parse


@dataclass(frozen=True)
class Body:
    """A request body that decodes to a report: its wire bytes, and what its JSON bytes are (found by
    inflating it once without keeping the result)."""

    wire: bytes
    gzipped: bool
    sha256: str
    size: int  # bytes of JSON once decompressed
    max_decompressed: int

    def reader(self) -> _BodyReader:
        """A file-like reader of the JSON bytes, inflated on the fly."""
        return _BodyReader(self.wire, self.gzipped, self.max_decompressed)


class _BodyReader:
    """read(n) over the JSON bytes of a body: gunzipped in bounded steps, so a decompression bomb stops at the
    limit and no more than one step is ever held."""

    def __init__(self, wire: bytes, gzipped: bool, limit: int) -> None:
        self._wire = wire
        self._gzipped = gzipped
        self._limit = limit
        self._offset = 0
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzipped else None
        self._tail = wire
        self._out = 0

    def read(self, n: int = 65536) -> bytes:
        if n == 0:  # ijson asks for nothing first, to learn whether the stream gives bytes or text
            return b""
        n = min(n if n > 0 else 65536, 1 << 20)
        if self._inflater is None:
            chunk = self._wire[self._offset : self._offset + n]
            self._offset += len(chunk)
            return chunk
        inflater = self._inflater
        try:
            while not inflater.eof and self._tail:
                chunk = inflater.decompress(self._tail, min(n, self._limit + 1 - self._out))
                self._tail = inflater.unconsumed_tail
                self._out += len(chunk)
                if self._out > self._limit:
                    raise ApiError(413, "too_large", f"the report inflates beyond {self._limit} bytes")
                if chunk:
                    return chunk
        except zlib.error as exc:
            raise ApiError(400, "bad_gzip", f"the body is not valid gzip: {exc}") from exc
        if not inflater.eof:
            raise ApiError(400, "bad_gzip", "the gzip stream is truncated")
        return b""


def inspect_body(body: bytes, content_encoding: str | None, *, max_decompressed: int) -> Body:
    """What a request body holds (size and SHA-256 of its JSON bytes), checked without keeping the JSON:
    415 for an unknown encoding, 413 beyond `max_decompressed` bytes, 400 for broken gzip."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    gzipped = encoding != "identity" or body.startswith(b"\x1f\x8b")
    if not gzipped:
        if len(body) > max_decompressed:
            raise ApiError(413, "too_large", f"the report exceeds {max_decompressed} bytes")
        return Body(body, False, content_hash(body), len(body), max_decompressed)
    digest = hashlib.sha256()
    size = 0
    reader = _BodyReader(body, True, max_decompressed)
    while chunk := reader.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return Body(body, True, digest.hexdigest(), size, max_decompressed)


def content_hash(data: bytes) -> str:
    """The identity of a report's content: the SHA-256 of its JSON bytes as the agent sent them."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class ParsedReport:
    """A validated report: its header (everything but the devices) and its devices, grouped by identity."""

    header: ReportDocument  # devices=[]
    devices: dict[str, _DeviceIn]
    times: _Times
    observation_total: int


#: Errors listed in a refusal at most (the count says how many there were).
_MAX_ERRORS = 50


class _ReportStream:
    """Validates a report while it is read: the devices one at a time, so memory holds the compact grouped form
    of the report and one device's objects, never the whole document as Python objects.

    Two passes over the JSON (ijson's C parser, inflating again each time): `scan` builds the header (every key but
    `devices`) and enforces the limits on devices and observations per device before any device is built; then
    `fold` has ijson build each device (in C), validates it (fingerprints.report.Device) and folds it into the
    grouping.
    """

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self.times = _Times()
        self.found: dict[str, _DeviceIn] = {}
        self.header: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self.interned: dict[str, str] = {}

    def scan(self, reader: _BodyReader) -> None:
        key = ""
        builder: ObjectBuilder | None = None
        in_devices = False
        devices = observations = 0
        starts = ("start_map", "start_array", "string", "number", "boolean", "null")
        try:
            for prefix, event, value in ijson.parse(reader, use_float=True):
                if in_devices:
                    if prefix == "devices.item.observations.item" and event == "start_map":
                        observations += 1
                        if observations > MAX_OBSERVATIONS_PER_DEVICE:
                            raise ApiError(
                                422, "invalid_report", f"device {devices - 1} has more than "
                                f"{MAX_OBSERVATIONS_PER_DEVICE} observations; split it over several reports",
                                [{"loc": ["devices", str(devices - 1), "observations"],
                                  "msg": "too many observations", "type": "too_long"}],
                            )
                    elif prefix == "devices.item" and event in starts:
                        devices += 1
                        observations = 0
                        if devices > MAX_DEVICES_PER_REPORT:
                            raise ApiError(422, "invalid_report", f"the report has more than "
                                           f"{MAX_DEVICES_PER_REPORT} devices; split it into several reports")
                    elif prefix == "devices" and event == "end_array":
                        in_devices = False
                    continue
                if builder is not None:
                    builder.event(event, value)
                    if prefix == key and event in ("end_map", "end_array"):
                        self.header[key] = builder.value
                        builder = None
                    continue
                if prefix == "":
                    if event == "map_key":
                        key = value
                    elif event not in ("start_map", "end_map"):
                        raise ApiError(422, "invalid_report", "the report must be a JSON object")
                    continue
                if key == "devices" and event == "start_array":
                    in_devices = True
                    continue
                builder = ObjectBuilder()
                builder.event(event, value)
                if event not in ("start_map", "start_array"):
                    self.header[key] = builder.value
                    builder = None
        except ijson.JSONError as exc:
            raise ApiError(400, "malformed_json", f"the body is not JSON: {str(exc)[:200]}") from exc
        except UnicodeDecodeError as exc:
            raise ApiError(400, "malformed_json", f"the body is not UTF-8: {exc}") from exc

    def fold(self, reader: _BodyReader) -> None:
        for index, raw in enumerate(ijson.items(reader, "devices.item", use_float=True)):
            self._device(index, raw)

    def _device(self, index: int, raw: Any) -> None:
        try:
            device = DeviceDocument.model_validate(raw)
        except ValidationError as exc:
            self.error_count += exc.error_count()
            room = _MAX_ERRORS - len(self.errors)
            if room > 0:
                for err in exc.errors(include_url=False)[:room]:
                    self.errors.append({**err, "loc": ("devices", index, *err["loc"])})
            return
        if self.error_count:
            return  # the report will be refused: keep nothing more of it
        self._fold(device)

    def _fold(self, d: DeviceDocument) -> None:
        ip = str(d.ips[0]) if d.ips else None
        key = f"mac:{d.mac}" if d.mac else f"ip:{self.site_id}:{ip}"
        dev = self.found.get(key)
        if dev is None:
            dev = self.found[key] = _DeviceIn(key, d.mac, ip, d.hostnames[0] if d.hostnames else None, False,
                                              float("-inf"))
        dev.ip = dev.ip or ip
        dev.hint = d.identification or dev.hint
        _add_observations(dev, d.observations, self.times, self.interned)


def parse_report(body: Body, *, site_id: int) -> ParsedReport:
    """Validate a report while reading it and group its devices by identity (MAC where known, else the address
    within the site); 400 for broken JSON, 422 with the errors (at most 50) for an invalid report."""
    stream = _ReportStream(site_id)
    stream.scan(body.reader())
    try:
        header = ReportDocument.model_validate({**stream.header, "devices": stream.header.get("devices", [])})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        wrong = [e for e in errors if tuple(e["loc"]) == ("schema",) and e["type"] == "literal_error"]
        if wrong:
            version = str(wrong[0].get("input", ""))[:60]
            message = f"schema {version!r} is not supported; expected {SCHEMA_ID}"
            raise ApiError(422, "unsupported_schema", message) from exc
        raise ApiError(422, "invalid_report", f"the report is invalid ({exc.error_count()} errors)",
                       error_details(errors)) from exc
    stream.fold(body.reader())
    if stream.error_count:
        raise ApiError(422, "invalid_report", f"the report is invalid ({stream.error_count} errors)",
                       error_details(stream.errors))
    devices = stream.found
    times = stream.times
    finished = times.key(header.scan.finished_at)
    for dev in devices.values():
        dev.seen_at = max(dev.seen_at, finished)
    if header.host is not None:
        h = header.host
        key = f"mac:{h.macs[0]}" if h.macs else f"host:{header.agent.id}"
        host = devices.get(key)
        if host is None:
            host = devices[key] = _DeviceIn(
                key, h.macs[0] if h.macs else None, str(h.ips[0]) if h.ips else None, h.hostname, True, finished
            )
        host.is_agent_host = True
        _add_observations(host, h.observations, times, stream.interned)
    latest = (utcnow() + FUTURE_TOLERANCE).timestamp()
    future = [d.identity_key for d in devices.values() if d.seen_at > latest]
    if future:
        raise ApiError(422, "invalid_report", f"{len(future)} device(s) have observations dated in the future; "
                       "check the agent's clock", [{"devices": future[:20]}])
    total = sum(len(d.observations) for d in devices.values())
    return ParsedReport(header, devices, times, total)


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
    """Timestamps as POSIX floats while grouping, converted once per distinct time when written.

    A report holds few distinct times for many observations; converting each distinct time once (keyed by a float,
    which hashes far faster than an aware datetime) saves most of the per-row cost.
    """

    def __init__(self) -> None:
        self.naive: dict[float, datetime] = {}

    def key(self, value: datetime) -> float:
        k = value.timestamp()
        if k not in self.naive:
            self.naive[k] = value.astimezone(UTC).replace(tzinfo=None)
        return k


def _add_observations(dev: _DeviceIn, observations: Iterable[Any], times: _Times, interned: dict[str, str]) -> None:
    store = dev.observations
    latest = dev.seen_at
    key_of = times.key
    # Kinds, protocols and sources repeat across a report: one string object each instead of one per observation.
    share = interned.setdefault
    for o in observations:
        key = observation_key(o.kind, o.value, o.port, o.proto)
        seen = store.get(key)
        at = key_of(o.seen_at)
        if seen is None:
            proto = share(o.proto, o.proto) if o.proto else None
            store[key] = (share(o.kind, o.kind), o.value, o.port, proto, share(o.source, o.source), at, at)
        elif at < seen[5] or at > seen[6]:
            store[key] = (*seen[:5], min(seen[5], at), max(seen[6], at))
        if at > latest:
            latest = at
    dev.seen_at = latest


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

    def __init__(self, session: Session, times: _Times) -> None:
        self.conn = session.connection()
        self.pg = self.conn.dialect.name == "postgresql"
        self.times = times
        self._stored: dict[float, Any] = {}
        self._staged = 0

    def ts(self, key: float) -> Any:
        """A timestamp, keyed as _Times keys it, as the column stores it (converted once per distinct time)."""
        stored = self._stored.get(key)
        if stored is None:
            naive = self.times.naive[key]
            stored = self._stored[key] = naive if self.pg else naive.isoformat(" ", "microseconds")
        return stored

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
    session: Session, *, agent: Agent, parsed: ParsedReport, content_sha256: str, raw_gzip: bytes, raw_size: int
) -> tuple[Receipt, bool]:
    """Store a report and everything derived from it; returns the receipt and whether it was new.

    The caller owns the transaction: commit on return, roll back on any exception, so a failure stores nothing.
    """
    report = parsed.header
    report_id = str(report.report_id)
    if str(report.agent.id) != agent.id:
        raise ApiError(403, "agent_mismatch", "the report names another agent than the key that submitted it")
    earlier = duplicate_receipt(session, agent=agent, report_id=report_id, content_sha256=content_sha256)
    if earlier is not None:
        return earlier, False

    now = utcnow()
    bulk = _Bulk(session, parsed.times)
    devices = parsed.devices
    observation_total = parsed.observation_total
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
    if report.status is not None:
        record_health(session, agent, report.status, via="report", version=report.agent.version,
                      hostname=report.agent.hostname, now=now)
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
