"""The collector's tables (SQLModel). Raw reports are kept; devices and observations are derived from them.

Time is stored as naive UTC and read back as aware UTC (`UTCDateTime`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, LargeBinary, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, in UTC, aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as naive UTC; return aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # a bound a hair outside year 1..9999 in UTC: the earliest or latest time there is
            return datetime.min if value.year == 1 else datetime.max

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)



class Organisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    sector: str = Field(max_length=64, index=True, description="code from collector/data/sectors.toml")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Site(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class EnrollmentToken(SQLModel, table=True):
    __tablename__ = "enrollment_token"
    id: int | None = Field(default=None, primary_key=True)
    lookup: str = Field(max_length=32, unique=True)
    secret_hash: str = Field(max_length=64)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    site_id: int = Field(foreign_key="site.id")
    note: str = Field(default="", max_length=200)
    max_uses: int = 1
    uses: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Agent(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=36, description="UUID")
    lookup: str = Field(max_length=32, unique=True)
    secret_hash: str = Field(max_length=64)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    enrollment_token_id: int | None = Field(default=None, foreign_key="enrollment_token.id")
    hostname: str = Field(default="", max_length=255)
    version: str = Field(default="", max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AgentHealth(SQLModel, table=True):
    """The latest status an agent sent (with a report or on a heartbeat): one row per agent, replaced each time."""

    __tablename__ = "agent_health"
    agent_id: str = Field(primary_key=True, foreign_key="agent.id", max_length=36)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    via: str = Field(max_length=16, description="report or heartbeat")
    taken_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False), description="by the agent's clock")
    interval_seconds: float | None = None
    heartbeat_seconds: float | None = None
    spool_pending: int = 0
    spool_rejected: int = 0
    peak_rss_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    last_scan: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class AgentProposal(SQLModel, table=True):
    """Scope, profile or schedule an admin proposed to one agent, and the agent's answer. Versions grow per agent;
    the highest is the one in force."""

    __tablename__ = "agent_proposal"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(foreign_key="agent.id", index=True, max_length=36)
    version: int
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="fingerprints Proposal")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=200, description="the admin token's name")
    state: str = Field(default="pending", max_length=16, description="pending, applied, partly or refused")
    answer: str = Field(default="", sa_column=Column(Text, nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    lookup: str = Field(max_length=32, unique=True)
    secret_hash: str = Field(max_length=64)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16, description="analyst or admin")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Report(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(max_length=36, unique=True, description="the agent's UUID, the idempotency key")
    agent_id: str = Field(foreign_key="agent.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    site_id: int = Field(foreign_key="site.id")
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    content_sha256: str = Field(max_length=64, index=True, description="SHA-256 of the JSON bytes")
    raw_gzip: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    raw_size: int
    profile: str = Field(max_length=16)
    scan_started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    scan_finished_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    device_count: int
    observation_count: int
    receipt: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Device(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("organisation_id", "identity_key"),
        Index("ix_device_last_seen_id", "last_seen", "id"),
        # An organisation's devices, newest first, without walking every other organisation's newer devices.
        Index("ix_device_org_last_seen_id", "organisation_id", "last_seen", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    # Few indexes and foreign keys on purpose: each costs per row when a report brings thousands of devices.
    site_id: int = Field(description="site.id of the agent that first reported it")
    identity_key: str = Field(max_length=80, description="mac:<mac>, or ip:<site>:<address> when no MAC is known")
    mac: str | None = Field(default=None, max_length=17)
    ip: str | None = Field(default=None, max_length=45, description="last address seen")
    hostname: str | None = Field(default=None, max_length=255)
    is_agent_host: bool = False
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Provenance pointers, not foreign keys: each would cost a trigger query per device row in bulk loading.
    first_report_id: int = Field(description="report.id")
    last_report_id: int = Field(description="report.id")


# The two bulk tables below (sightings, observations) carry no foreign keys: PostgreSQL checks a foreign key with a
# trigger per row, which made bulk loading three times slower (measured: COPY of 80,000 observations 0.6 s without,
# 1.8 s with). Ingest writes them in the same transaction as the devices and reports they point to, devices and
# reports are never deleted, and tests/collector/test_ingest.py checks that nothing points nowhere.


class Sighting(SQLModel, table=True):
    """A device seen in a report: its history."""

    __table_args__ = (UniqueConstraint("device_id", "report_id"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(description="device.id")
    report_id: int = Field(index=True, description="report.id")
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ip: str | None = Field(default=None, max_length=45)


class Observation(SQLModel, table=True):
    """One piece of evidence about one device, deduplicated on (kind, value, port, proto)."""

    __table_args__ = (UniqueConstraint("device_id", "obs_key"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(description="device.id")
    # 64 bits of a keyed-free BLAKE2 hash: a compact index, and a collision among one device's few hundred
    # observations has a probability around 1e-15.
    obs_key: int = Field(sa_column=Column(BigInteger, nullable=False), description="hash of kind, port, proto, value")
    kind: str = Field(max_length=40)  # no index of its own: nothing looks observations up by kind alone
    value: str = Field(sa_column=Column(Text, nullable=False))
    port: int | None = None
    proto: str | None = Field(default=None, max_length=8)
    source: str = Field(max_length=255)
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    first_report_id: int
    last_report_id: int
    times_seen: int = 1


def _flag_vendors_on_insert(context: Any) -> str:
    """identification.flag_vendors from the inserted row's own detail (collector/whatif.py), whoever inserts it."""
    from collector.whatif import record_flag_vendors  # late: collector.whatif reads these tables

    return record_flag_vendors(context)


class Identification(SQLModel, table=True):
    """The current verdict on a device: vendor, countries, flag, and the evidence behind it."""

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", unique=True)
    origin: str = Field(max_length=16, description="agent (the agent's hint) or collector (attributed here)")
    vendor_id: str | None = Field(default=None, max_length=64, index=True)
    vendor: str | None = Field(default=None, max_length=255)
    product: str | None = Field(default=None, max_length=255)
    device_type: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=40, index=True, description="the vendor's main category")
    country: str | None = Field(default=None, max_length=2, index=True)
    owner_country: str | None = Field(default=None, max_length=2, index=True)
    flagged: bool = Field(default=False, index=True)
    confidence: float = 0.0
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    catalogue_version: str | None = Field(default=None, max_length=32)
    policy_version: str | None = Field(default=None, max_length=32)
    computed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The vendors besides the device's own whose countries the flag looks at (OEM maker, software and OS makers),
    # kept beside `detail` so that a what-if counts a million devices without parsing JSON; filled in on insert.
    # NULL: stored some other way; the what-if reads `detail` then.
    flag_vendors: str | None = Field(default=None, sa_column=Column(Text, nullable=True,
                                                                    default=_flag_vendors_on_insert))
    __table_args__ = (
        # The what-if reads what decides every verdict, in device order, from this index alone on PostgreSQL: the
        # table's rows carry ~1 kB of detail each (bench/bench_whatif.py: 2.8 s → 1.9 s for the query at 1M devices).
        Index("ix_identification_whatif", "device_id",
              postgresql_include=["country", "owner_country", "flagged", "flag_vendors", "computed_at"]),
    )


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    token_id: int | None = Field(default=None, foreign_key="api_token.id", index=True)
    token_name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    method: str = Field(max_length=8)
    route: str = Field(max_length=200)
    query: str = Field(sa_column=Column(Text, nullable=False))
    rows: int = 0
    status: int = 200
    reason: str = Field(default="", max_length=64, description="a refusal's reason, e.g. invalid_credentials")
    prev_hash: str | None = Field(default=None, max_length=64, description="row_hash of the row before")
    row_hash: str | None = Field(default=None, max_length=64, description="SHA-256 chaining this row (audit.py)")


class IdentificationChange(SQLModel, table=True):
    """What re-attribution changed about a device: the trail behind "what changed since"."""

    __tablename__ = "identification_change"
    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    change: str = Field(max_length=24, description="identified, flagged, unflagged, vendor_changed")
    old_vendor_id: str | None = Field(default=None, max_length=64)
    new_vendor_id: str | None = Field(default=None, max_length=64)
    old_flagged: bool | None = None
    new_flagged: bool | None = None
    catalogue_version: str | None = Field(default=None, max_length=32, index=True)
    policy_version: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=16,
                               description="evidence (a new report), catalogue (better data) or policy (a new policy)")


class InventoryReport(SQLModel, table=True):
    """A generated periodic inventory report, kept as rendered."""

    __tablename__ = "inventory_report"
    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=7, index=True, description="YYYY-MM")
    sector: str | None = Field(default=None, max_length=64)
    format: str = Field(max_length=8, description="html, pdf, csv or json")
    pseudonymised: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(default="", max_length=200, description="token name or 'scheduler' or 'cli'")
    content_type: str = Field(max_length=100)
    content: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    sha256: str = Field(max_length=64)
    catalogue_version: str | None = Field(default=None, max_length=32)
    policy_version: str | None = Field(default=None, max_length=32)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AttributionRun(SQLModel, table=True):
    """One pass of re-attribution over every device, for one catalogue and policy version; resumable."""

    __tablename__ = "attribution_run"
    id: int | None = Field(default=None, primary_key=True)
    catalogue_version: str = Field(max_length=32)
    policy_version: str = Field(max_length=32)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_device_id: int = Field(default=0, description="devices up to this id are done")
    devices_done: int = 0
    changes: int = 0


class CollectorSecret(SQLModel, table=True):
    """Keys the collector creates for itself, once per database, so that every process shares them."""

    __tablename__ = "collector_secret"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ExportQuota(SQLModel, table=True):
    """Exports per API token per minute, counted atomically (INSERT … ON CONFLICT DO UPDATE … RETURNING)."""

    __tablename__ = "export_quota"
    token_id: int = Field(primary_key=True, foreign_key="api_token.id")
    minute: int = Field(primary_key=True, sa_type=BigInteger, description="minutes since the Unix epoch, UTC")
    n: int = 0


class PolicyRecord(SQLModel, table=True):
    """One version of the policy (which countries' vendors are flagged), as an admin set it. The one in force is the
    latest whose valid_from has come; the shipped data/policy.toml is the seed when none is stored."""

    __tablename__ = "policy_record"
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=32, unique=True)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="fingerprints Policy")
    valid_from: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    set_by: str = Field(max_length=200, description="the admin token's name, 'cli', or 'shipped'")
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
