"""IANA Private Enterprise Numbers (the N in SNMP sysObjectID 1.3.6.1.4.1.N).

The full registry comes from Debian's wireshark-common (/usr/share/wireshark/enterprises.tsv); the catalogue's own
`pen` numbers work without it (see engine). Parsed once, lazily.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

DEFAULT_PATH = Path("/usr/share/wireshark/enterprises.tsv")
ENTERPRISES_PREFIX = "1.3.6.1.4.1."
_OID_RE = re.compile(r"^\.?(?:iso|1)\.3\.6\.1\.4\.1\.(\d{1,10})(?:\.\d{1,10}){0,126}$")


def enterprise_number(oid: str) -> int | None:
    """N from a sysObjectID under 1.3.6.1.4.1.N; None when the value is not such an OID."""
    m = _OID_RE.match(oid.strip())
    return int(m.group(1)) if m else None


def load_pens(path: Path | None = None) -> dict[int, str]:
    """Number -> organisation, from a wireshark enterprises.tsv; empty when the file is absent."""
    path = path or DEFAULT_PATH
    table: dict[int, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return table
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        num, _, name = line.partition("\t")
        if num.isdigit() and name:
            table[int(num)] = name.strip()
    return table


@functools.cache
def pen_registry() -> dict[int, str]:
    """The installed PEN registry, loaded once."""
    return load_pens()
