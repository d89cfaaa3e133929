"""What the API accepts and returns: one model family per entity, never a table object."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fingerprints.report import Proposal, refuse_control_chars

#: Database ids as clients may send them: positive and within the 32-bit INTEGER that every id column is on
#: PostgreSQL (a larger one is a 422, not an overflow in the driver).
MAX_ID = 2**31 - 1

Role = Literal["analyst", "admin", "metrics"]
#: Text a client gives the collector to store: no control characters (NUL, tab, newline …), refused with a 422.
Text = Annotated[str, AfterValidator(refuse_control_chars)]


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    sector: Text = Field(min_length=1, max_length=64, description="a sector code from GET /api/v1/sectors")


class OrganisationPublic(BaseModel):
    id: int
    name: str
    sector: str
    created_at: datetime


class SitePublic(BaseModel):
    id: int
    organisation_id: int
    name: str


class EnrollmentTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation_id: int = Field(ge=1, le=MAX_ID)
    site: Text = Field(default="default", min_length=1, max_length=200)
    expires_in_hours: float = Field(default=72, gt=0, le=24 * 365)
    max_uses: int = Field(default=1, ge=1, le=10_000)
    note: Text = Field(default="", max_length=200)


class EnrollmentTokenPublic(BaseModel):
    id: int
    organisation_id: int
    site_id: int
    note: str = ""
    created_at: datetime | None = None
    expires_at: datetime
    revoked_at: datetime | None = None
    max_uses: int
    uses: int
    token: str | None = Field(default=None, description="shown once, at creation")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    token_id: int | None
    token_name: str = Field(description="the verified caller, else what the request's credential said it was")
    role: str
    method: str
    route: str
    query: str
    rows: int
    status: int
    reason: str = Field(description="a refusal's reason")
    row_hash: str | None = Field(description="the hash chaining this row to the one before")


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")


class AuditVerification(BaseModel):
    intact: bool
    rows: int
    chained: int
    unchained_before: int = Field(description="rows written before the chain existed")
    broken_at: int | None = Field(description="the id of the first row that does not hold")
    problem: str


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    role: Role
    expires_in_hours: float | None = Field(default=None, gt=0, le=24 * 365 * 5)


class ApiTokenPublic(BaseModel):
    id: int
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    token: str | None = Field(default=None, description="shown once, at creation")


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enrollment_token: Text = Field(min_length=1, max_length=200)
    hostname: Text = Field(default="", max_length=255)
    version: Text = Field(default="", max_length=64)


class EnrollResponse(BaseModel):
    agent_id: str
    agent_key: str = Field(description="shown once; store it 0600 on the agent")
    organisation: str
    site: str


class Counts(BaseModel):
    received: int
    new: int
    updated: int


class Receipt(BaseModel):
    report_id: str
    received_at: datetime
    duplicate: bool = False
    devices: Counts
    observations: Counts
    proposal: Proposal | None = Field(
        default=None, description="the scope/profile/schedule the collector proposes to this agent, if any; the "
        "agent applies it only inside its operator's ceiling")


class HeartbeatReceipt(BaseModel):
    received_at: datetime
    proposal: Proposal | None = Field(default=None, description="as in the report receipt")


class IdentificationPublic(BaseModel):
    origin: str
    vendor_id: str | None
    vendor: str | None
    product: str | None
    device_type: str | None
    country: str | None
    owner_country: str | None
    flagged: bool
    confidence: float
    catalogue_version: str | None
    policy_version: str | None
    computed_at: datetime
    detail: dict[str, Any] = Field(description="flag reasons, evidence (observation → rule → conclusion), conflicts")


class DeviceSummary(BaseModel):
    id: int
    organisation_id: int
    organisation: str
    sector: str
    site_id: int
    mac: str | None
    ip: str | None
    hostname: str | None
    first_seen: datetime
    last_seen: datetime
    vendor_id: str | None = None
    vendor: str | None = None
    product: str | None = None
    category: str | None = None
    country: str | None = None
    owner_country: str | None = None
    flagged: bool | None = None
    confidence: float | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "id": 42, "organisation_id": 3, "organisation": "Waterschap Demoland", "sector": "water",
                "site_id": 5, "mac": "44:19:b6:12:34:56", "ip": "198.18.0.21", "hostname": None,
                "first_seen": "2026-11-02T09:03:00Z", "last_seen": "2026-11-30T09:03:00Z",
                "vendor_id": "hikvision", "vendor": "Hikvision", "product": "DS-2CD2143G2-I", "category": "cctv",
                "country": "CN", "owner_country": "CN", "flagged": True, "confidence": 0.95,
            }]
        }
    }


class DevicePage(BaseModel):
    items: list[DeviceSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class ObservationPublic(BaseModel):
    id: int
    kind: str
    value: str
    port: int | None
    proto: str | None
    source: str
    first_seen: datetime
    last_seen: datetime
    times_seen: int


class SightingPublic(BaseModel):
    report_id: str
    seen_at: datetime
    ip: str | None


class VerdictChange(BaseModel):
    """One recorded change of a device's verdict, with the catalogue and policy that made it."""

    at: datetime
    change: str = Field(description="identified, flagged, unflagged or vendor_changed")
    old_vendor_id: str | None
    new_vendor_id: str | None
    old_flagged: bool | None
    new_flagged: bool | None
    catalogue_version: str | None
    policy_version: str | None
    reason: str | None = Field(default=None, description="evidence (a new report), catalogue (better data) or "
                               "policy (a new policy); absent on changes recorded before reasons were kept")


class DeviceDetail(DeviceSummary):
    identity_key: str
    observations: list[ObservationPublic]
    history: list[SightingPublic]
    identification: IdentificationPublic | None
    verdicts: list[VerdictChange] = Field(
        default_factory=list, description="how the verdict changed over time, newest first (the facts behind the "
        "current one are in identification.detail)")


class SummaryCell(BaseModel):
    sector: str
    country: str | None = Field(description="headquarters country; null when unidentified")
    devices: int
    flagged: int


class Summary(BaseModel):
    cells: list[SummaryCell]
    total_devices: int
    total_flagged: int
    computed_at: datetime | None = Field(default=None, description="when these counts were taken from the database")


class AgentStatus(BaseModel):
    """One enrolled agent as the fleet view shows it: who, where, which version, when it last reported, what it last
    said of itself, and whether it has gone silent."""

    id: str
    organisation_id: int
    organisation: str
    site: str
    hostname: str
    version: str
    enrolled_at: datetime
    last_seen_at: datetime | None = Field(description="its last contact: a report or a heartbeat")
    revoked: bool
    reports: int = Field(description="reports stored from it")
    last_report_at: datetime | None
    last_report_profile: str | None
    last_report_devices: int | None
    health: AgentHealthPublic | None = Field(description="the status it sent last (with a report or a heartbeat)")
    proposal: ProposalPublic | None = Field(default=None, description="the proposal in force and its answer")
    silent_after_hours: float = Field(description="no contact for this long makes it silent: two of its own "
                                      "periods, or HERKOMST_AGENT_SILENT_HOURS when it never said its period")
    silent: bool = Field(description="not revoked and no contact within silent_after_hours")


class AgentHealthPublic(BaseModel):
    received_at: datetime
    via: str = Field(description="report or heartbeat")
    taken_at: datetime
    interval_seconds: float | None
    heartbeat_seconds: float | None
    spool_pending: int
    spool_rejected: int
    peak_rss_bytes: int | None
    errors: list[dict[str, Any]]
    last_scan: dict[str, Any] | None


class ProposalCreate(BaseModel):
    """What an admin proposes to one agent. Absent fields leave the agent's own setting; no fields at all withdraws
    earlier proposals. The agent applies it only inside its operator's ceiling."""

    model_config = ConfigDict(extra="forbid")

    scope: list[IPv4Network | IPv6Network] | None = Field(default=None, min_length=1, max_length=4096)
    exclude: list[IPv4Network | IPv6Network] = Field(default_factory=list, max_length=4096)
    profile: Literal["passive", "safe", "standard"] | None = None
    interval_seconds: float | None = Field(default=None, ge=60, le=366 * 86400)


class ProposalPublic(BaseModel):
    agent_id: str
    version: int
    document: dict[str, Any] = Field(description="the proposal as the agent receives it")
    created_at: datetime
    created_by: str
    state: str = Field(description="pending (not answered yet), applied, partly or refused")
    answer: str
    answered_at: datetime | None


class AgentFleet(BaseModel):
    items: list[AgentStatus]
    silent: int = Field(description="how many of the listed agents are silent")
    silent_after_hours: float = Field(description="HERKOMST_AGENT_SILENT_HOURS: the threshold for agents that never "
                                      "said their period")


class ReportLogEntry(BaseModel):
    report_id: str
    agent_id: str
    organisation_id: int
    site_id: int
    received_at: datetime
    profile: str
    device_count: int
    observation_count: int
    raw_size: int


class ChangePublic(VerdictChange):
    """A verdict change on the changes feed: which device, of which organisation."""

    id: int
    device_id: int
    organisation: str
    sector: str


class ChangePage(BaseModel):
    items: list[ChangePublic]
    next_cursor: str | None


class ReportLogPage(BaseModel):
    items: list[ReportLogEntry]
    next_cursor: str | None
