"""What an inventory report contains, as plain models: every renderer (HTML, PDF, CSV, JSON) reads these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Totals(BaseModel):
    devices: int = 0
    identified: int = 0
    flagged: int = 0
    organisations: int = 0
    organisations_with_flagged: int = 0


class SectorCountryCell(BaseModel):
    sector: str
    sector_name: str
    country: str | None = Field(description="vendor headquarters; null when the vendor is unknown")
    devices: int
    flagged: int


class SectorTrend(BaseModel):
    sector: str
    sector_name: str
    devices: int
    flagged: int
    previous_devices: int
    previous_flagged: int


class VendorRow(BaseModel):
    vendor_id: str | None
    vendor: str | None
    country: str | None
    owner_country: str | None
    devices: int
    organisations: int


class PublicListRow(BaseModel):
    """Devices whose vendor (or the maker behind its brand) was on a public list at the period's end."""

    list: str
    name: str
    devices: int
    flagged: int = Field(description="of which flagged by the policy")
    organisations: int


class CategoryRow(BaseModel):
    category: str | None
    devices: int
    organisations: int


class FlagChange(BaseModel):
    device_id: int
    organisation: str
    sector: str
    vendor: str | None
    country: str | None
    owner_country: str | None
    reason: str = Field(description="new_device, reattributed_flagged, no_longer_seen or reattributed_unflagged")
    at: datetime


class VerdictSince(BaseModel):
    """A device of the period whose verdict changed after the period ended: what held then, what holds now."""

    device_id: int
    organisation: str
    sector: str
    vendor_then: str | None = Field(description="catalogue id of the vendor then (null: not identified then)")
    vendor_now: str | None
    flagged_then: bool
    flagged_now: bool
    reason: str | None = Field(description="why it changed first: evidence, catalogue or policy")
    changed_at: datetime


class ThenAndNow(BaseModel):
    """The period's devices judged as they were at the period's end, beside today's verdicts on the same devices,
    so that a re-attribution since is visible rather than silent (from the recorded verdict changes)."""

    flagged_then: int
    flagged_now: int
    changed_total: int = Field(description="devices whose vendor or flag changed after the period")
    changed: list[VerdictSince]


class OrganisationRow(BaseModel):
    organisation: str
    sector: str
    devices: int
    identified: int
    flagged: int
    flagged_vendors: list[str]


class EvidenceItem(BaseModel):
    kind: str
    value: str
    rule_id: str
    conclusion: str
    weight: float | None = None


class AppendixEntry(BaseModel):
    device_id: int
    organisation: str
    sector: str
    vendor: str | None
    product: str | None
    device_type: str | None
    country: str | None
    owner_country: str | None
    confidence: float
    origin: str
    first_seen: datetime
    last_seen: datetime
    catalogue_version: str | None
    policy_version: str | None
    flag_reasons: list[str]
    evidence: list[EvidenceItem]
    conflicts: list[dict[str, Any]]
    note: str | None = None


class VersionRow(BaseModel):
    origin: str
    catalogue_version: str | None
    policy_version: str | None
    devices: int


class Method(BaseModel):
    catalogue_version: str
    policy_version: str
    policy_name: str
    policy_countries: list[str]
    identification_versions: list[VersionRow]
    counting: str
    pseudonymisation: str | None


class InventoryContent(BaseModel):
    """One periodic inventory: the figures for the period, the previous period, and the evidence."""

    schema_id: str = Field(default="herkomst.inventory/1", alias="schema")
    period: str
    period_start: datetime
    period_end: datetime
    previous_period: str
    in_progress: bool
    sector: str | None
    sector_name: str | None
    generated_at: datetime
    pseudonymised: bool
    totals: Totals
    previous_totals: Totals
    by_sector_country: list[SectorCountryCell]
    trend: list[SectorTrend]
    top_vendors: list[VendorRow]
    top_categories: list[CategoryRow]
    public_lists: list[PublicListRow] = Field(default_factory=list, description="devices per public list")
    then_and_now: ThenAndNow | None = Field(default=None, description="absent for a month still in progress")
    flagged_added: list[FlagChange]
    flagged_added_total: int
    flagged_removed: list[FlagChange]
    flagged_removed_total: int
    organisations: list[OrganisationRow]
    appendix: list[AppendixEntry]
    appendix_total: int
    method: Method

    model_config = {"populate_by_name": True}
