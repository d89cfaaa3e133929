"""What every probe shares: its context (timeouts, limiter, credentials), its result records and the TCP
helper.

Probes are read-only identity requests. Each reserves its packets from the rate limiter before sending them,
so the
global and per-host caps hold; packets the kernel sends on our behalf (handshake ACKs, FINs) are counted in
the
reservation too.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.ratelimit import RateLimiter
from agent.settings import SnmpV3Credential

#: Packets we send for a TCP handshake attempt: SYN (+ one retransmission on a silent port) and the final ACK.
CONNECT_PACKETS = 2
#: After a session: ACKs of the answer, our FIN and the ACK of theirs.
CLOSE_PACKETS = 3


@dataclass(frozen=True)
class Finding:
    """One observation a probe made."""

    kind: str
    value: str
    port: int | None
    proto: str | None
    source: str


@dataclass
class ProbeContext:
    limiter: RateLimiter
    timeout: float = 2.0
    snmp_communities: list[str] = field(default_factory=lambda: ["public"])
    snmp_v3: list[SnmpV3Credential] = field(default_factory=list)
    modbus_unit_ids: list[int] = field(default_factory=lambda: [1])
    _asked: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def first(self, ip: str, what: str) -> bool:
        """True the first time `what` is asked of `ip` in this scan, False after: for questions a device needs to
        answer once however many of its ports would lead to them (its favicon)."""
        with self._lock:
            if (ip, what) in self._asked:
                return False
            self._asked.add((ip, what))
            return True


ProbeFunc = Callable[[str, int, ProbeContext], list[Finding]]


@dataclass(frozen=True)
class ProbeSpec:
    """A probe on one port; `packets` is the most it sends to one host (shown by --dry-run)."""

    name: str
    port: int
    proto: str | None
    packets: int
    description: str
    run: ProbeFunc


def tcp_connect(ip: str, port: int, ctx: ProbeContext) -> socket.socket | None:
    """Open a TCP connection within the rate cap, or None when the port is closed, filtered or unreachable."""
    ctx.limiter.acquire(ip, CONNECT_PACKETS)
    try:
        sock = socket.create_connection((ip, port), timeout=ctx.timeout)
    except OSError:
        return None
    sock.settimeout(ctx.timeout)
    return sock


def recv_some(sock: socket.socket, limit: int = 65_536, until: bytes | None = None) -> bytes:
    """Read until the peer closes, `until` is seen, limit bytes arrive, or the timeout passes."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(min(8192, limit - len(data)))
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
        if until is not None and until in data:
            break
    return data


def close(sock: socket.socket, ip: str, ctx: ProbeContext) -> None:
    ctx.limiter.acquire(ip, CLOSE_PACKETS)
    try:
        sock.close()
    except OSError:
        pass


def text(data: bytes) -> str:
    """Decode device text leniently and strip control characters."""
    decoded = data.decode("utf-8", errors="replace")
    return "".join(ch for ch in decoded if ch.isprintable() or ch in "\t").strip()
