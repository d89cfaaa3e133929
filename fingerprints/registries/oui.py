"""The IEEE MAC address registries (MA-L, MA-M, MA-S and the old IAB) with each registrant's country.

Sources, in order of preference: the files netaddr ships (netaddr/eui/oui.txt = MA-L, iab.txt = IAB) and Debian's
ieee-data (/usr/share/ieee-data: oui.txt, mam.txt = MA-M, oui36.txt = MA-S). All share IEEE's text layout, where the
last address line of an entry is the registrant's ISO country code. Lookups go from the longest prefix (36 bits)
to the shortest (24 bits), each a dict keyed by the prefix as an integer.
"""

from __future__ import annotations

import functools
import marshal
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fingerprints.registries.cache import cached
from fingerprints.registries.packed import PackedMap

_HEX_LINE = re.compile(r"^([0-9A-F]{2})-([0-9A-F]{2})-([0-9A-F]{2})\s+\(hex\)\s+(.*?)\s*$")
_BASE16_LINE = re.compile(r"^([0-9A-F]{6})(?:-([0-9A-F]{6}))?\s+\(base 16\)")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SEPARATORS = re.compile(r"[-:.\s]")
_SEP = "\x1f"  # ASCII unit separator between a packed entry's organisation, country and registry
IEEE_DATA = Path("/usr/share/ieee-data")


@dataclass(frozen=True)
class Registrant:
    """Who registered a MAC prefix, and where (the country of the registration address)."""

    organisation: str
    country: str | None
    prefix: str  # e.g. "00:00:0C" or "70:B3:D5:57:7" for longer blocks
    registry: str  # MA-L, MA-M, MA-S, IAB


class OuiRegistry:
    """Longest-prefix lookup over all loaded IEEE assignments."""

    def __init__(self) -> None:
        # bits -> prefix -> "organisation<US>country<US>registry": plain dicts while files are read, packed
        # (see packed.py: 2 MB instead of 13) once loading is done.
        self._tables: dict[int, Mapping[int, str]] = {24: {}, 28: {}, 36: {}}
        self.sources: list[str] = []

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def load_text(self, path: Path, registry: str) -> int:
        """Add every entry of one IEEE text file; later files do not override earlier ones."""
        added = 0
        oui: str | None = None
        org = ""
        rng: tuple[int, int] | None = None
        address: list[str] = []

        def flush() -> None:
            nonlocal added
            if oui is None or rng is None:
                return
            country = address[-1] if address and _COUNTRY.match(address[-1]) else None
            base = int(oui, 16)
            start, end = rng
            size = end - start + 1
            bits = 24 if size >= 1 << 24 else 24 + (24 - (size.bit_length() - 1))
            if bits not in self._tables:
                return
            key = ((base << 24) | start) >> (48 - bits)
            table = self._tables[bits]
            if not isinstance(table, dict):
                table = self._tables[bits] = dict(table)  # loading more after freeze(): unpack, pack again later
            if key not in table:
                table[key] = _SEP.join((org, country or "", registry))
                added += 1

        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                # Most lines are address lines; test cheap substrings before running a regex.
                if "(hex)" in line and (m := _HEX_LINE.match(line)):
                    flush()
                    oui, org, rng, address = m.group(1) + m.group(2) + m.group(3), m.group(4), None, []
                    continue
                if "(base 16)" in line and oui is not None and (m := _BASE16_LINE.match(line)):
                    if m.group(2):
                        rng = (int(m.group(1), 16), int(m.group(2), 16))
                    else:
                        rng = (0, (1 << 24) - 1)
                    continue
                text = line.strip()
                if text and rng is not None:
                    address.append(text)
            flush()
        self.sources.append(str(path))
        return added

    def lookup(self, mac: str) -> Registrant | None:
        """The registrant of a MAC address (any common notation); None when unassigned or not a MAC."""
        digits = _SEPARATORS.sub("", mac)
        if len(digits) != 12:
            return None
        try:
            value = int(digits, 16)
        except ValueError:
            return None
        for bits in (36, 28, 24):
            key = value >> (48 - bits)
            hit = self._tables[bits].get(key)
            if hit is not None:
                hexa = f"{key:0{(bits + 3) // 4}X}"
                prefix = ":".join(hexa[i : i + 2] for i in range(0, len(hexa), 2))
                org, country, registry = hit.split(_SEP)
                return Registrant(org, country or None, prefix, registry)
        return None

    def registrant_countries(self, key: Callable[[str], str]) -> dict[str, tuple[str, int, int]]:
        """key(organisation) -> (country, registrations from it, registrations in all) for every registrant name
        whose registrations come at least two thirds from one country: the country an organisation that IEEE
        knows gives in its address. Names whose registrations spread over countries are left out."""
        counts: dict[str, Counter[str]] = {}
        for table in self._tables.values():
            for k in table:
                org, country, _registry = table[k].split(_SEP)
                if not country or org.lower() == "private":
                    continue
                name = key(org)
                if name:
                    counts.setdefault(name, Counter())[country] += 1
        out: dict[str, tuple[str, int, int]] = {}
        for name, by_country in counts.items():
            country, n = by_country.most_common(1)[0]
            total = sum(by_country.values())
            if 3 * n >= 2 * total:
                out[name] = (country, n, total)
        return out

    def freeze(self) -> None:
        """Pack the tables once all files are read."""
        self._tables = {bits: t if isinstance(t, PackedMap) else PackedMap(t) for bits, t in self._tables.items()}

    def dump(self) -> bytes:
        self.freeze()
        tables = {bits: table.buffers() for bits, table in self._tables.items() if isinstance(table, PackedMap)}
        return marshal.dumps((tables, self.sources))

    @classmethod
    def from_dump(cls, blob: bytes) -> OuiRegistry:
        reg = cls()
        tables, reg.sources = marshal.loads(blob)
        reg._tables = {int(bits): PackedMap.from_buffers(*buffers) for bits, buffers in tables.items()}
        if set(reg._tables) != {24, 28, 36}:
            raise ValueError("OUI dump without its three tables")
        return reg


def _candidate_files() -> list[tuple[Path, str]]:
    files: list[tuple[Path, str]] = []
    try:
        import netaddr.eui

        eui_dir = Path(netaddr.eui.__file__).parent
        files += [(eui_dir / "oui.txt", "MA-L"), (eui_dir / "iab.txt", "IAB")]
    except ImportError:  # netaddr is a declared dependency; stay usable without it
        pass
    have = {r for p, r in files if p.exists()}
    # Debian's MA-L and IAB files repeat what netaddr ships (usually older); read them only when netaddr's are absent.
    files += [(IEEE_DATA / "oui.txt", "MA-L")] if "MA-L" not in have else []
    files += [(IEEE_DATA / "mam.txt", "MA-M"), (IEEE_DATA / "oui36.txt", "MA-S")]
    files += [(IEEE_DATA / "iab.txt", "IAB")] if "IAB" not in have else []
    return [(p, r) for p, r in files if p.exists()]


@functools.cache
def oui_registry() -> OuiRegistry:
    """All IEEE registries found on this machine, loaded once (parsed tables are cached on disk, see cache.py)."""
    files = _candidate_files()

    def build() -> bytes:
        reg = OuiRegistry()
        for path, registry in files:
            reg.load_text(path, registry)
        return reg.dump()

    try:
        return OuiRegistry.from_dump(cached("oui", [p for p, _ in files], build))
    except (ValueError, TypeError, KeyError):  # a cache entry of an older layout: build afresh
        return OuiRegistry.from_dump(build())
