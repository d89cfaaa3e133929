"""nmap's favicon database (nselib/data/favicon-db, Debian's nmap): MD5 of a web favicon → product name."""

from __future__ import annotations

import functools
import re
from pathlib import Path

FAVICON_DB = Path("/usr/share/nmap/nselib/data/favicon-db")
_LINE = re.compile(r"^([0-9A-Fa-f]{32}):\s*(.+?)\s*$")


def parse_favicons(text: str) -> dict[str, str]:
    """Lower-case MD5 hex → product name, from the database's `HASH: name` lines."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


@functools.cache
def favicon_registry(path: Path = FAVICON_DB) -> dict[str, str] | None:
    """The database, loaded once; None when nmap's data is not installed."""
    try:
        return parse_favicons(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
