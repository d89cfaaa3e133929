"""The engine's verdict on one device: the Identification model and its parts."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from fingerprints.report import IdentificationHint

MAX_EVIDENCE_VALUE = 200
_M = TypeVar("_M", bound=BaseModel)


def construct(cls: type[_M], **values: Any) -> _M:
    """Build a model from values the engine made itself, every field given, without validation.

    Why: pydantic's model_construct costs ~25 µs (it walks the fields for defaults); the engine builds several
    models per observation. Only for trusted values with every field present; tests dump what it builds.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


@runtime_checkable
class ObservationLike(Protocol):
    """Anything with a kind, a value and a port; fingerprints.report.Observation is one."""

    @property
    def kind(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def port(self) -> int | None: ...


class Obs:
    """The smallest ObservationLike: a kind and a value (and a port), for identifying text outside a report."""

    __slots__ = ("kind", "value", "port")

    def __init__(self, kind: str, value: str, port: int | None = None) -> None:
        self.kind, self.value, self.port = kind, value, port


class Evidence(BaseModel):
    """One observation, the rule that read it, and what it concluded."""

    model_config = ConfigDict(frozen=True)
    kind: str
    value: str = Field(description=f"the observed value, cut to {MAX_EVIDENCE_VALUE} characters")
    rule_id: str
    conclusion: str
    weight: float = Field(ge=0, le=1)
    vendor_id: str | None = None
    role: str = "device"


class Component(BaseModel):
    """A vendor whose part sits inside the device (NIC, radio module, chip) or whose software runs on it."""

    vendor_id: str | None
    vendor: str
    role: str = Field(description="nic, radio-module, chip, software, os, oem-maker …")
    country: str | None = None
    listed: bool = Field(default=False, description="the component vendor's hq or owner is on the policy list")
    evidence: list[str] = Field(default_factory=list, description="rule ids")


class Conflict(BaseModel):
    """Evidence that points at another vendor than the one chosen."""

    vendor_id: str | None
    vendor: str
    weight: float
    kinds: list[str]
    note: str


class ListEntry(BaseModel):
    """A public list that names the device's vendor (or the maker behind its brand) on the day it was judged."""

    list: str = Field(description="list id, e.g. fcc-covered")
    name: str = Field(description="the list's name")
    vendor_id: str = Field(description="the listed vendor: the device's own or its white-label maker")
    since: str | None = Field(default=None, description="on the list since (ISO date)")
    source: str


class Identification(BaseModel):
    """Who made a device, where that vendor answers to, whether the policy flags it, and on what evidence."""

    vendor_id: str | None = None
    vendor: str | None = Field(default=None, description="display name")
    product: str | None = None
    firmware: str | None = Field(default=None, description="firmware or software version where visible")
    model: str | None = None
    device_type: str | None = None
    country: str | None = Field(default=None, description="headquarters country (ISO 3166-1 alpha-2)")
    owner: str | None = Field(default=None, description="ultimate owner valid today")
    owner_country: str | None = None
    oem_makers: list[str] = Field(default_factory=list, description="catalogue ids of the makers behind a brand")
    lists: list[ListEntry] = Field(default_factory=list, description="public lists naming the vendor or its maker "
                                   "on the day judged (shown; the policy flags by country)")
    flagged: bool = False
    flag_reasons: list[str] = Field(default_factory=list)
    flagged_by: list[str] = Field(
        default_factory=list,
        description="which origin dimensions put it on the list (flag_reasons says each in words and may add "
        "notes such as a contested verdict): headquarters, owner, maker (behind a white-label brand), registrant "
        "(a MAC registrant not in the catalogue), software, os")
    weak: bool = Field(default=False, description="the verdict rests on weak evidence only (e.g. a MAC prefix)")
    confidence: float = Field(default=0.0, ge=0, le=1)
    components: list[Component] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    catalogue_version: str
    policy_version: str
    unknown_reason: str | None = None

    def to_hint(self) -> IdentificationHint:
        """The short form the agent puts in its report."""
        return IdentificationHint(
            vendor_id=self.vendor_id,
            vendor=self.vendor[:255] if self.vendor else None,
            product=self.product[:255] if self.product else None,
            device_type=self.device_type,
            country=self.country,
            owner_country=self.owner_country,
            flagged=self.flagged,
            confidence=round(self.confidence, 3),
            catalogue_version=self.catalogue_version,
        )
