"""The vendor catalogue: pydantic models of the data format, the loader and the lookup indexes.

The format is the models below: `data/vendors/*.toml` hold `[[vendor]]` tables (with `[vendor.hq]`,
`[[vendor.owners]]`, `[[vendor.former]]`, `[[vendor.products]]`), `data/catalogue.toml` holds the version and the
`[matching]` word lists. Loading is lazy and cached; a vendor that fails validation is left out at run time (and
reported by `herkomst fingerprint check`) so that one bad entry never takes attribution down.
"""

from __future__ import annotations

import bisect
import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from fingerprints.countries import COUNTRIES

DATA_DIR = Path(__file__).parent / "data"
CATEGORIES = frozenset(
    "network telecom firewall wireless cctv ot-plc ot-rtu ot-scada ot-relay ot-hmi inverter battery smart-meter "
    "building-automation server storage endpoint printer voip security-software software os cloud iot-module nic "
    "semiconductor medical power-supply drone platform other".split()
)
#: "platform": the vendor's operating system runs on other makers' devices (Windows CE on an industrial PC, Android
#: on a phone), so its software named in a banner or an OS fingerprint never says who made the device.
#: Makers of parts that sit inside other brands' devices (a vendor with any other category is a device maker too).
COMPONENT_CATEGORIES = frozenset({"nic", "iot-module", "semiconductor"})
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _country(value: str) -> str:
    if value not in COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code (upper case, e.g. CN, TW, HK)")
    return value


def _optional_date(value: Any) -> Any:
    # TOML may carry "" for "unknown / still valid"; the format allows it.
    return None if value in ("", None) else value


Country = Annotated[str, AfterValidator(_country)]
OptionalDate = Annotated[date | None, BeforeValidator(_optional_date)]


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=3, description="URL or document title")
    retrieved: date | str = Field(description="when the source was read (ISO date)")

    @field_validator("retrieved")
    @classmethod
    def _retrieved(cls, value: date | str) -> date | str:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"retrieved must be an ISO date, got {value!r}") from None
        return value


class Headquarters(_Fact):
    country: Country


class Owner(_Fact):
    name: str = Field(min_length=1)
    country: Country
    since: OptionalDate = None
    until: OptionalDate = None
    def valid_at(self, when: date) -> bool:
        """True when this owner held the vendor on `when`."""
        return (self.since is None or self.since <= when) and (self.until is None or when < self.until)


class OemRelation(_Fact):
    maker: str
    note: str = ""


class FormerName(_Fact):
    """A name the vendor (or a company it absorbed) once traded under, still carried by registries and firmware:
    an OUI or enterprise number registered to it resolves to today's vendor, and the evidence says so."""

    name: str = Field(min_length=1)
    until: OptionalDate = Field(default=None, description="when the name stopped being used (renamed or absorbed)")
    note: str = Field(default="", description="e.g. 'acquired by HP in 2010'")


class Product(_Fact):
    """A product line, firmware or software that names its maker without the maker's name ("Comware" is H3C's
    network OS, "XMEye" Xiongmai's DVR firmware, "Discuz!" Comsenz's forum software)."""

    name: str = Field(min_length=2)
    role: Literal["device", "software", "os"] = Field(
        default="device", description="what naming it says: the device's maker, the software's, or the OS's")
    note: str = ""


class ListMembership(_Fact):
    list: str = Field(min_length=1)
    since: OptionalDate = None


class Vendor(BaseModel):
    """One catalogue vendor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1)
    short: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    cpe: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    pen: list[int] = Field(default_factory=list)
    odva: list[int] = Field(default_factory=list)
    bacnet: list[int] = Field(default_factory=list)
    profinet: list[int] = Field(default_factory=list)  # PROFINET VendorID (PI), as DCP's DeviceID block carries it
    lists: list[ListMembership] = Field(default_factory=list)
    hq: Headquarters
    owners: list[Owner] = Field(min_length=1)
    oem: list[OemRelation] = Field(default_factory=list)
    former: list[FormerName] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(f"vendor id {value!r} must be lowercase ascii letters, digits and '-'")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; allowed: {sorted(CATEGORIES)}")
        return value

    @field_validator("cpe")
    @classmethod
    def _cpe(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]

    def owner_at(self, when: date | None = None) -> Owner | None:
        """The ultimate owner valid on `when` (default today); the latest-starting one when several overlap."""
        when = when or date.today()
        valid = [o for o in self.owners if o.valid_at(when)]
        if not valid:
            return None
        return max(valid, key=lambda o: o.since or date.min)

    @property
    def is_component_maker(self) -> bool:
        """NIC, radio-module and chip makers: their MAC prefix often sits inside another brand's device."""
        return _is_component_maker(tuple(self.categories))


@functools.lru_cache(maxsize=1024)
def _is_component_maker(categories: tuple[str, ...]) -> bool:
    cats = set(categories)
    return bool(COMPONENT_CATEGORIES & cats) and not (cats - COMPONENT_CATEGORIES - {"other", "software"})


@dataclass(eq=False)  # identity-hashed, so per-catalogue indexes can be cached
class Catalogue:
    """All valid vendors with lookup indexes; `faults` lists what failed validation."""

    version: str
    released: str
    vendors: dict[str, Vendor]
    faults: list[str] = field(default_factory=list)
    by_alias: dict[str, str] = field(default_factory=dict)  # casefolded alias -> vendor id
    by_cpe: dict[str, str] = field(default_factory=dict)
    by_pen: dict[int, str] = field(default_factory=dict)
    by_odva: dict[int, str] = field(default_factory=dict)
    by_bacnet: dict[int, str] = field(default_factory=dict)
    by_profinet: dict[int, str] = field(default_factory=dict)
    # catalogue.toml [matching]: aliases that are ordinary words or names (never picked out of free text), and
    # names that begin many unrelated words (never matched as the start of a longer word)
    former_names: dict[str, tuple[str, FormerName]] = field(default_factory=dict)  # casefolded -> (vendor id, fact)
    products: dict[str, tuple[str, Product]] = field(default_factory=dict)  # casefolded name -> (vendor id, fact)
    ordinary_words: frozenset[str] = frozenset()
    earned_words: frozenset[str] = frozenset()  # dictionary words that are a company's own name (see check)
    not_prefixes: frozenset[str] = frozenset()

    def get(self, vendor_id: str) -> Vendor | None:
        return self.vendors.get(vendor_id)

    def former_name(self, name: str) -> FormerName | None:
        """The former-name fact behind `name`, when it is one."""
        hit = self.former_names.get(name.casefold().strip())
        return hit[1] if hit else None

    def alias_names(self) -> Iterable[tuple[str, str]]:
        """(casefolded alias, vendor id) pairs, including each vendor's short name and legal name."""
        return self.by_alias.items()


def _read_toml(path: Path, faults: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        faults.append(f"{path.name}: cannot read TOML: {exc}")
        return {}


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])


def _compact(model: BaseModel, shared: dict[Any, Any]) -> Any:
    """The same frozen model, lighter in memory: thousands of facts share one copy of each equal string, of the
    empty list and of the set of fields given (pydantic keeps one per instance). The agent loads the whole catalogue
    within its memory budget; nothing here changes a value."""
    for name, value in model.__dict__.items():
        if isinstance(value, str):
            object.__setattr__(model, name, shared.setdefault(value, value))
        elif isinstance(value, list):
            if not value:
                object.__setattr__(model, name, shared.setdefault(("empty list",), value))
            else:
                for i, item in enumerate(value):
                    if isinstance(item, BaseModel):
                        _compact(item, shared)
                    elif isinstance(item, str):
                        value[i] = shared.setdefault(item, item)
        elif isinstance(value, BaseModel):
            _compact(value, shared)
    fields = frozenset(model.__pydantic_fields_set__)
    object.__setattr__(model, "__pydantic_fields_set__", shared.setdefault(("fields", fields), set(fields)))
    return model


def load_catalogue(data_dir: Path | None = None) -> Catalogue:
    """Read and validate the catalogue under `data_dir` (default: the packaged data). Not cached; see catalogue()."""
    data_dir = data_dir or DATA_DIR
    faults: list[str] = []
    meta = _read_toml(data_dir / "catalogue.toml", faults) if (data_dir / "catalogue.toml").exists() else {}
    if not meta:
        faults.append("catalogue.toml: missing or empty (needs version and released)")
    vendors: dict[str, Vendor] = {}
    shared: dict[Any, Any] = {}
    for path in sorted((data_dir / "vendors").glob("*.toml")):
        doc = _read_toml(path, faults)
        if stray := sorted(set(doc) - {"vendor"}):
            faults.append(f"{path.name}: only [[vendor]] tables belong in a vendor file, found {stray} "
                          "(rules go in data/rules/)")
        entries = doc.get("vendor", [])
        if not isinstance(entries, list):
            faults.append(f"{path.name}: 'vendor' must be an array of tables ([[vendor]])")
            continue
        for n, raw in enumerate(entries):
            label = f"{path.name}: vendor #{n + 1} ({raw.get('id', '?') if isinstance(raw, dict) else '?'})"
            try:
                vendor = Vendor.model_validate(raw)
            except ValidationError as exc:
                faults.append(f"{label}: {_describe(exc)}")
                continue
            if vendor.id in vendors:
                faults.append(f"{label}: duplicate vendor id {vendor.id!r}")
                continue
            vendors[vendor.id] = _compact(vendor, shared)
    matching = meta.get("matching", {})
    words: dict[str, frozenset[str]] = {}
    for key in ("ordinary_words", "earned_words", "not_prefixes"):
        raw = matching.get(key, []) if isinstance(matching, dict) else []
        if not isinstance(raw, list) or not all(isinstance(w, str) and w.strip() for w in raw):
            faults.append(f"catalogue.toml: [matching] {key} must be a list of non-empty strings")
            raw = []
        words[key] = frozenset(w.casefold().strip() for w in raw)
    cat = Catalogue(
        version=str(meta.get("version", "unversioned")),
        released=str(meta.get("released", "")),
        vendors=vendors,
        faults=faults,
        ordinary_words=words["ordinary_words"],
        earned_words=words["earned_words"],
        not_prefixes=words["not_prefixes"],
    )
    _index(cat)
    return cat


def _claim(index: dict[Any, str], key: Any, vendor_id: str, what: str, faults: list[str]) -> None:
    owner = index.get(key)
    if owner is not None and owner != vendor_id:
        faults.append(f"{what} {key!r} is claimed by both {owner!r} and {vendor_id!r}")
        return
    index[key] = vendor_id


def _index(cat: Catalogue) -> None:
    for v in cat.vendors.values():
        # Aliases are unique by contract; short and legal names are indexed too but may not steal an alias.
        for alias in v.aliases:
            _claim(cat.by_alias, alias.casefold().strip(), v.id, "alias", cat.faults)
        for old in v.former:
            key = old.name.casefold().strip()
            _claim(cat.by_alias, key, v.id, "alias (former name)", cat.faults)
            cat.former_names[key] = (v.id, old)
        for product in v.products:
            key = product.name.casefold().strip()
            _claim(cat.by_alias, key, v.id, "alias (product)", cat.faults)
            cat.products[key] = (v.id, product)
        for c in v.cpe:
            _claim(cat.by_cpe, c, v.id, "cpe vendor", cat.faults)
        for p in v.pen:
            _claim(cat.by_pen, p, v.id, "PEN", cat.faults)
        for o in v.odva:
            _claim(cat.by_odva, o, v.id, "ODVA id", cat.faults)
        for b in v.bacnet:
            _claim(cat.by_bacnet, b, v.id, "BACnet id", cat.faults)
        for n in v.profinet:
            _claim(cat.by_profinet, n, v.id, "PROFINET vendor id", cat.faults)
        for rel in v.oem:
            if rel.maker not in cat.vendors:
                cat.faults.append(f"{v.id}: oem maker {rel.maker!r} is not a catalogue id")
    for v in cat.vendors.values():
        for extra in (v.short, v.name):
            cat.by_alias.setdefault(extra.casefold().strip(), v.id)


@functools.cache
def catalogue() -> Catalogue:
    """The packaged catalogue, loaded once."""
    return load_catalogue()


def catalogue_version() -> str:
    """Version string of the packaged catalogue (catalogue.toml)."""
    return catalogue().version


@functools.cache
def data_digest() -> str:
    """A short digest of every data file identification reads (catalogue, rules, policy): it changes whenever
    the data does, even when nobody bumped catalogue.toml's version, so the collector knows to re-attribute."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(p for p in DATA_DIR.rglob("*") if p.is_file() and "eval" not in p.relative_to(DATA_DIR).parts):
        h.update(str(path.relative_to(DATA_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


@functools.cache
def _fact_boundaries() -> tuple[date, ...]:
    days: set[date] = set()
    for v in catalogue().vendors.values():
        for o in v.owners:
            days.update(d for d in (o.since, o.until) if d is not None)
        for m in v.lists:
            if m.since is not None:
                days.add(m.since)
    return tuple(sorted(days))


def validity_epoch(today: date) -> date | None:
    """The last day on or before `today` on which an ownership or list fact of the catalogue began or ended: a
    verdict computed before that day may no longer hold, so the collector re-attributes when it moves."""
    days = _fact_boundaries()
    at = bisect.bisect_right(days, today)
    return days[at - 1] if at else None
