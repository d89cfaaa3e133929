"""The what-if's request and answer (collector/whatif.py computes it): a proposed country list in, counts by
sector × country and the devices whose flag would change out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: More codes than ISO 3166-1 has (249) is never a list anyone proposes.
MAX_PROPOSED_COUNTRIES = 300


class WhatIfRequest(BaseModel):
    """A proposed policy list, e.g. the policy plus HK; checked in collector/whatif.py so that each refusal has a
    reason of its own (empty list, unknown code, duplicate)."""

    model_config = ConfigDict(extra="forbid")
    countries: list[str] = Field(max_length=MAX_PROPOSED_COUNTRIES,
                                 description="ISO 3166-1 alpha-2 codes in capitals, each once, e.g. "
                                 "[\"CN\", \"RU\", \"IR\", \"KP\", \"BY\"]")
    sector: str | None = Field(default=None, max_length=64, description="only this sector (GET /api/v1/sectors)")
    limit: int = Field(default=100, ge=1, description="changed devices per page (at most HERKOMST_PAGE_SIZE_MAX)")
    cursor: str | None = Field(default=None, max_length=400, description="next_cursor of the previous page")


class WhatIfCell(BaseModel):
    sector: str
    country: str | None = Field(description="headquarters country, as in GET /api/v1/summary; null when unidentified")
    devices: int
    flagged: int = Field(description="flagged in the official view")
    flagged_whatif: int = Field(description="flagged under the proposed list")


class WhatIfOrigin(BaseModel):
    """One country a device's verdict looks at, and whether each list names it."""

    dimension: Literal["headquarters", "owner", "maker", "software", "os"]
    vendor_id: str | None = Field(description="the maker or software vendor; null for the device's own vendor")
    country: str
    on_policy: bool = Field(description="on the official policy list")
    on_proposal: bool


class WhatIfChange(BaseModel):
    device_id: int
    organisation_id: int
    organisation: str
    sector: str
    vendor_id: str | None
    vendor: str | None
    product: str | None
    country: str | None
    owner_country: str | None
    last_seen: datetime
    change: Literal["would_be_flagged", "would_no_longer_be_flagged"]
    flagged: bool = Field(description="flagged in the official view")
    flagged_whatif: bool
    origins: list[WhatIfOrigin] = Field(description="every origin country of the verdict, with either list's say")


class WhatIfResult(BaseModel):
    countries: list[str] = Field(description="the proposed list, sorted")
    policy_version: str = Field(description="the official policy the counts are compared with")
    policy_countries: list[str]
    added: list[str] = Field(description="on the proposed list, not on the policy's")
    removed: list[str] = Field(description="on the policy's list, not on the proposed one")
    sector: str | None
    cells: list[WhatIfCell]
    total_devices: int
    total_flagged: int
    total_flagged_whatif: int
    would_be_flagged: int = Field(description="devices not flagged today that the proposal flags")
    would_no_longer_be_flagged: int = Field(description="devices flagged today that the proposal does not flag")
    changes: list[WhatIfChange] = Field(description="one page of those devices, by id")
    next_cursor: str | None = None
    computed_at: datetime
