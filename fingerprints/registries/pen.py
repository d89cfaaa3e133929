"""IANA Private Enterprise Numbers (the N in SNMP sysObjectID 1.3.6.1.4.1.N).

The full registry comes from Debian's wireshark-common (/usr/share/wireshark/enterprises.tsv); the catalogue's own
`pen` numbers work without it (see engine). Parsed once, lazily.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from fingerprints.registries.cache import cached
from fingerprints.registries.packed import PackedMap

DEFAULT_PATH = Path("/usr/share/wireshark/enterprises.tsv")
ENTERPRISES_PREFIX = "1.3.6.1.4.1."
_OID_RE = re.compile(r"^\.?(?:iso|1)\.3\.6\.1\.4\.1\.(\d{1,10})(?:\.\d{1,10}){0,126}$")


def enterprise_number(oid: str) -> int | None:
    """N from a sysObjectID under 1.3.6.1.4.1.N; None when the value is not such an OID."""
    m = _OID_RE.match(oid.strip())
    return int(m.group(1)) if m else None


def _parse(path: Path) -> PackedMap:
    table: dict[int, str] = {}
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line or line[0] == "#":
                continue
            num, _, name = line.partition("\t")
            if num.isdigit() and name.strip():
                table[int(num)] = name.strip()
    return PackedMap(table)


def load_pens(path: Path | None = None) -> PackedMap:
    """Number -> organisation, from a wireshark enterprises.tsv; empty when the file is absent.

    The table is packed (see packed.py: about 2 MB instead of 20) and cached on disk like the other registries.
    """
    path = path or DEFAULT_PATH
    if not path.exists():
        return PackedMap()
    try:
        return PackedMap.from_buffers(*cached("pens", [path], lambda: _parse(path).buffers()))
    except (OSError, ValueError, TypeError):  # an unreadable file or a damaged cache entry: parse afresh
        try:
            return _parse(path)
        except OSError:
            return PackedMap()


@functools.cache
def pen_registry() -> PackedMap:
    """The installed PEN registry, loaded once."""
    return load_pens()
