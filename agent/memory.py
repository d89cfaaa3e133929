"""Keeping the agent small: it shares a host with the operator's own work, often a small VM or an appliance.

Two things measurably inflate a scan's peak memory (see bench/bench_agent.py):
- glibc gives every thread that allocates its own malloc arena (up to 8 per core); the identity probes run one
  thread per host, and each arena keeps its freed pages. Two arenas cost no measurable speed here and save
  about 25 MB.
- scapy reads Wireshark's vendor table (/usr/share/wireshark/manuf, about 13 MB in memory) when it is first
  imported, to print vendor names in packet summaries. The agent never prints those; it resolves vendors with
  the fingerprints registries. The table is emptied right after import, so its memory is reused.
- scapy's configuration imports `cryptography` (its OpenSSL bindings, about 8 MB) only to record whether its
  TLS, IPsec and WEP layers could use it. The agent uses none of them (it reads certificates with pyasn1, see
  agent/probes/certificate.py), so scapy is imported with `cryptography` hidden. SNMPv3 privacy needs
  `cryptography` and imports it later, when a v3 user is configured: hiding it from scapy does not hide it from
  pysnmp.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

#: mallopt() parameter number of M_ARENA_MAX in glibc's malloc.h.
M_ARENA_MAX = -8
ARENAS = 2

_done = False


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (the runtime equivalent of MALLOC_ARENA_MAX); False where that is not glibc."""
    try:
        libc = ctypes.CDLL(None)  # the interpreter's own symbols, libc's among them (no ldconfig lookup)
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to tune
        return False


def release_free_memory() -> bool:
    """Hand the pages that finished probe threads freed back to the system (glibc's malloc_trim).

    Each probe thread allocates from one of the capped arenas; when the threads are done their freed chunks stay
    resident in those arenas, where the main thread's next allocations (the fingerprints catalogue, the report)
    do not look. Trimming before identification keeps the two phases' memory from adding up."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


def import_scapy_without_cryptography() -> None:
    """Import scapy's configuration as if `cryptography` were not installed, then make it importable again.

    A None in sys.modules makes `import cryptography` raise ImportError (the documented way to block a module);
    scapy catches that and sets conf.crypto_valid to False. Nothing is done if scapy or cryptography is loaded."""
    if "scapy.config" in sys.modules or "cryptography" in sys.modules:
        return
    sys.modules["cryptography"] = None  # type: ignore[assignment]
    try:
        import scapy.config  # noqa: F401
    finally:
        if sys.modules.get("cryptography", ...) is None:
            del sys.modules["cryptography"]


def drop_scapy_vendor_table() -> None:
    """Import scapy's data tables and empty the Wireshark vendor table it loads."""
    import scapy.data

    scapy.data.MANUFDB.d.clear()  # tuples of strings, no cycles: freed at once


def prepare() -> None:
    """Both of the above, once per process; call before the first thread starts and before scapy is used."""
    global _done
    if _done:
        return
    _done = True
    if not limit_malloc_arenas():
        log.debug("malloc arenas not limited (not glibc)")
    import_scapy_without_cryptography()
    drop_scapy_vendor_table()
