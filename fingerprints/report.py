"""The report document (DESIGN.md contract 2): what an agent sends and the collector stores.

Both sides validate against these models; `herkomst schema report` prints their JSON Schema. The limits below are
generous for real networks and exist so that absurd input is refused with a reason instead of stored.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    field_validator,
    model_validator,
)

from fingerprints.kinds import KINDS

#: The observation kinds as a closed set, so that validation happens in pydantic-core and the JSON Schema lists them.
Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]

SCHEMA_ID = "herkomst.report/1"

MAX_VALUE_CHARS = 16_384
MAX_OBSERVATIONS_PER_DEVICE = 5_000
MAX_DEVICES_PER_REPORT = 250_000
MAX_ADDRESSES_PER_DEVICE = 64
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: A static upper bound checked in pydantic-core for every observation; the collector also refuses anything dated
#: more than FUTURE_TOLERANCE after it receives the report.
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: Clocks drift; a day of tolerance for agents whose clock runs ahead.
FUTURE_TOLERANCE = timedelta(days=1)

#: The one rule for control characters in text (both databases store the same, and PostgreSQL cannot store NUL):
#: names (hostnames, sources, versions …) may contain none of U+0000–U+001F or U+007F; observation values, which
#: carry banners and headers, may contain tab, line feed and carriage return but no other of them. Anything else is
#: refused with a 422 naming the field, never stripped, so that what is stored is what the agent saw.
_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_VALUE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _describe(char: str) -> str:
    return "NUL" if char == "\x00" else f"U+{ord(char):04X}"


def refuse_control_chars(value: str) -> str:
    """A name as stored: raise ValueError when it contains a control character (tab and newline included)."""
    found = _CONTROL_IN_NAME.search(value)
    if found:
        raise ValueError(f"control character {_describe(found.group())} at position {found.start()} is not allowed")
    return value


def refuse_control_chars_in_value(value: str) -> str:
    """An observation value as stored: tab, LF and CR are kept; any other control character is refused."""
    found = _CONTROL_IN_VALUE.search(value)
    if found:
        raise ValueError(f"control character {_describe(found.group())} at position {found.start()} is not allowed")
    return value


_MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_MAC_SEPARATORS = re.compile(r"[-:.]")
_HEX12 = re.compile(r"[0-9a-f]{12}")


def normalise_mac(value: str) -> str:
    """Return a MAC as lower-case colon-separated hex; raise ValueError when it is not one."""
    if _MAC_RE.fullmatch(value):  # already canonical: the common case, kept cheap
        return value
    digits = _MAC_SEPARATORS.sub("", value.strip().lower())
    if not _HEX12.fullmatch(digits):
        raise ValueError(f"not a MAC address: {value[:40]!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _check_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps need a time zone (ISO 8601 with Z or an offset)")
    value = value.astimezone(UTC)
    if value < EARLIEST or value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError(f"timestamp {value.isoformat()} is implausible")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=False)


Port = Annotated[int, Field(ge=0, le=65535)]
ShortText = Annotated[str, Field(max_length=255), AfterValidator(refuse_control_chars)]


class Observation(_Strict):
    """One piece of evidence about one device (contract 1)."""

    kind: Kind = Field(description="an observation kind from contract 1, e.g. http.server")  # type: ignore[valid-type]
    value: Annotated[str, AfterValidator(refuse_control_chars_in_value)] = Field(
        min_length=1, max_length=MAX_VALUE_CHARS,
        description="the evidence; no control characters other than tab, LF and CR")
    port: Port | None = None
    proto: Literal["tcp", "udp", "l2", "host"] | None = None
    source: ShortText = Field(description="what produced it: arp, passive.dhcp, probe.http, nmap, inventory …")
    seen_at: AwareDatetime = Field(ge=EARLIEST, lt=LATEST, description="when it was seen (ISO 8601 with zone)")

    @model_validator(mode="after")
    def _normalise_mac(self) -> Observation:
        if self.kind == "mac":
            self.value = normalise_mac(self.value)
        return self


class IdentificationHint(BaseModel):
    """The agent's own verdict; the collector re-derives its own and keeps this only as a hint."""

    model_config = ConfigDict(extra="ignore")

    vendor_id: ShortText | None = None
    vendor: ShortText | None = None
    product: ShortText | None = None
    device_type: ShortText | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    owner_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    flagged: bool | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    catalogue_version: ShortText | None = None


class Device(_Strict):
    """A device the agent saw, with every observation about it."""

    mac: str | None = Field(default=None, description="the device's own MAC, where the agent is on its link")
    ips: list[IPvAnyAddress] = Field(default_factory=list, max_length=MAX_ADDRESSES_PER_DEVICE)
    hostnames: list[ShortText] = Field(default_factory=list, max_length=MAX_ADDRESSES_PER_DEVICE)
    observations: list[Observation] = Field(default_factory=list, max_length=MAX_OBSERVATIONS_PER_DEVICE)
    identification: IdentificationHint | None = None
    packets_sent: int | None = Field(
        default=None, ge=0, le=10**12,
        description="frames the agent's host sent to this device's addresses during the scan, counted on the wire "
        "(absent when the agent could not count, or in reports from captures and imports)")

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return None if value is None else normalise_mac(value)

    @model_validator(mode="after")
    def _identifiable(self) -> Device:
        if self.mac is None and not self.ips:
            raise ValueError("a device needs a MAC or at least one IP address")
        return self


class AgentInfo(_Strict):
    id: uuid.UUID
    version: ShortText
    hostname: ShortText | None = None


class Scan(_Strict):
    scope: list[IPv4Network | IPv6Network] = Field(max_length=4096)
    exclude: list[IPv4Network | IPv6Network] = Field(default_factory=list, max_length=4096)
    profile: Literal["passive", "safe", "standard", "inventory"]
    started_at: datetime
    finished_at: datetime
    packets_sent: int = Field(ge=0, le=10**12)
    max_packet_rate: float = Field(ge=0, le=10**9, description="highest packets/s the agent reached")
    max_host_packet_rate: float | None = Field(
        default=None, ge=0, le=10**9, description="highest packets/s to any one address (counted on the wire)")
    packets_counted: Literal["wire", "reserved"] = Field(
        default="reserved",
        description="wire: packets_sent and the rates are frames counted leaving the host's interfaces; reserved: "
        "the rate limiter's reservations (an upper bound), where frames could not be counted")

    @field_validator("started_at", "finished_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        return _check_time(value)

    @model_validator(mode="after")
    def _ordered(self) -> Scan:
        if self.finished_at < self.started_at:
            raise ValueError("scan.finished_at is before scan.started_at")
        return self


class HostInventory(_Strict):
    """The agent's own machine: OS, hardware, packages, PCI/USB devices and interfaces as observations."""

    hostname: ShortText
    os: ShortText | None = None
    macs: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES_PER_DEVICE)
    ips: list[IPvAnyAddress] = Field(default_factory=list, max_length=MAX_ADDRESSES_PER_DEVICE)
    observations: list[Observation] = Field(default_factory=list, max_length=100_000)

    @field_validator("macs")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        return [normalise_mac(v) for v in value]


Profile = Literal["passive", "safe", "standard"]
Network = IPv4Network | IPv6Network
HEARTBEAT_SCHEMA_ID = "herkomst.heartbeat/1"
MAX_STATUS_ERRORS = 20


class LastScan(_Strict):
    """The agent's last scan, in a few numbers (what the fleet view shows beside the agent)."""

    report_id: uuid.UUID | None = None
    profile: Literal["passive", "safe", "standard", "inventory"]
    started_at: AwareDatetime = Field(ge=EARLIEST, lt=LATEST)
    finished_at: AwareDatetime = Field(ge=EARLIEST, lt=LATEST)
    devices: int = Field(ge=0, le=MAX_DEVICES_PER_REPORT)
    packets_sent: int = Field(ge=0, le=10**12)
    max_packet_rate: float = Field(ge=0, le=10**9)
    max_host_packet_rate: float | None = Field(default=None, ge=0, le=10**9)


class StatusError(_Strict):
    """One thing that went wrong on the agent (a failed scan or delivery, a scan warning), with when."""

    at: AwareDatetime = Field(ge=EARLIEST, lt=LATEST)
    message: Annotated[str, Field(max_length=500), AfterValidator(refuse_control_chars)]


class ProposalAnswer(_Strict):
    """What the agent did with the collector's proposal of that version: applied it whole, applied the part inside
    the ceiling its operator set ("partly"), or refused it; the message says which part and why."""

    version: int = Field(ge=1, le=2**31 - 1)
    state: Literal["applied", "partly", "refused"]
    message: Annotated[str, Field(max_length=2000), AfterValidator(refuse_control_chars)] = ""
    answered_at: AwareDatetime = Field(ge=EARLIEST, lt=LATEST)


class AgentHealth(_Strict):
    """The agent's small status, sent with every report and on every heartbeat (issue 14 item 7)."""

    taken_at: AwareDatetime = Field(ge=EARLIEST, lt=LATEST, description="when the agent took this status")
    interval_seconds: float | None = Field(
        default=None, gt=0, le=366 * 86400, description="seconds between its unattended scans (absent: it is run "
        "by hand)")
    heartbeat_seconds: float | None = Field(
        default=None, gt=0, le=366 * 86400, description="seconds between its heartbeats (absent: none are sent)")
    spool_pending: int = Field(ge=0, le=10**9, description="reports spooled and not yet delivered")
    spool_rejected: int = Field(default=0, ge=0, le=10**9, description="reports the collector refused, kept aside")
    peak_rss_bytes: int | None = Field(default=None, ge=0, le=2**48, description="the agent process's peak memory")
    errors: list[StatusError] = Field(default_factory=list, max_length=MAX_STATUS_ERRORS,
                                      description="its most recent errors and scan warnings, newest last")
    last_scan: LastScan | None = None
    proposal: ProposalAnswer | None = Field(default=None, description="its answer to the latest proposal it got")


class Heartbeat(_Strict):
    """What an agent sends between scans: who it is and its status, no devices."""

    schema_: Literal["herkomst.heartbeat/1"] = Field(alias="schema")
    agent: AgentInfo
    status: AgentHealth

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Proposal(_Strict):
    """Scope, exclusions, profile and schedule the collector proposes to one agent. The agent applies it only inside
    the ceiling its operator set in the local configuration and answers with a ProposalAnswer; absent fields leave
    the agent's own setting as it is. The collector can never widen what the operator allowed."""

    version: int = Field(ge=1, le=2**31 - 1)
    scope: list[Network] | None = Field(default=None, min_length=1, max_length=4096)
    exclude: list[Network] = Field(default_factory=list, max_length=4096,
                                   description="added to the agent's own exclusions, never replacing them")
    profile: Profile | None = None
    interval_seconds: float | None = Field(default=None, ge=60, le=366 * 86400)


class Report(_Strict):
    """One agent's report of one scan."""

    schema_: Literal["herkomst.report/1"] = Field(alias="schema", description="document version")
    report_id: uuid.UUID = Field(description="idempotency key: the same report is stored once")
    agent: AgentInfo
    scan: Scan
    devices: list[Device] = Field(default_factory=list, max_length=MAX_DEVICES_PER_REPORT)
    host: HostInventory | None = None
    status: AgentHealth | None = Field(default=None, description="the agent's status when it wrote the report")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready document, as sent on the wire."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of the report document."""
    schema = Report.model_json_schema(by_alias=True)
    schema["$id"] = SCHEMA_ID
    return schema


def heartbeat_json_schema() -> dict[str, Any]:
    """The JSON Schema of the heartbeat document."""
    schema = Heartbeat.model_json_schema(by_alias=True)
    schema["$id"] = HEARTBEAT_SCHEMA_ID
    return schema
