"""A small on-disk cache for parsed registries, so that a cold start does not re-parse megabytes of text.

Entries are marshal files in $HERKOMST_CACHE_DIR (default ~/.cache/herkomst), keyed by the source files' paths,
sizes and modification times and by this module's format version. A cache that cannot be read or written is
ignored: the registry is parsed again, never wrong.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_FORMAT = "13"


def cache_dir() -> Path:
    return Path(os.environ.get("HERKOMST_CACHE_DIR") or Path.home() / ".cache" / "herkomst")


def cached(name: str, sources: Sequence[Path], build: Callable[[], Any]) -> Any:
    """Return build()'s marshal-able result, from the cache when the sources are unchanged."""
    try:
        stamp = "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sources)
    except OSError:
        return build()
    digest = hashlib.sha256(f"{_FORMAT}|{stamp}".encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{digest}.marshal"
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(marshal.dumps(value))
        tmp.replace(path)
        for stale in path.parent.glob(f"{name}-*.marshal"):  # entries of older sources or an older layout
            if stale != path:
                stale.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass
    return value
