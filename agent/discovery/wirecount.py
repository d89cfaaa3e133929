"""Counting what the scan really sent: every frame this host's interfaces send to an address in scope, on the wire.

The rate limiter paces the agent by reservations made before sending, with room for what the kernel adds (ACKs,
a SYN retransmission, the FIN exchange) and for nmap's packets, which the agent can only estimate. Reservations
are an upper bound, not a count: in the lab they were twice the frames a capture saw. The report's
`packets_sent`, each device's `packets_sent` and the peak rates are therefore counted here, from a raw socket
that sees the interface's outgoing frames (the kernel's own "outbound" filter), as a capture on a SPAN port would.

What is counted: IPv4/IPv6 frames to an address in scope, ARP requests for one, and link-layer identification
multicasts (PROFINET DCP, counted for the link, not for a device). Frames that other programs on this host send to
addresses in scope during the scan are counted as well — the figure is what left the host, whoever sent it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from agent.discovery.ethernet import ethertype
from agent.scope import Scope

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
#: outgoing frames only; the kernel drops everything else before it is copied to this socket
BPF = "outbound and (arp or ip or ip6 or ether proto 0x8892)"
LINK = "link"  # key for frames aimed at the link (multicast identification), not at one device


@dataclass
class WireCount:
    """Frames sent, in total and per destination address, with the busiest one-second windows."""

    total: int = 0
    per_host: Counter[str] = field(default_factory=Counter)
    peak_rate: int = 0  # most frames in any one-second window
    peak_host_rate: int = 0  # most frames to one address in any one-second window


def destination(frame: bytes, scope: Scope) -> str | None:
    """The address in scope an outgoing frame is aimed at, LINK for a DCP multicast, None for anything else."""
    found = ethertype(frame)
    if found is None:
        return None
    kind, start = found
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    if kind == 0x0800 and len(frame) >= start + 20:
        dst = ipaddress.IPv4Address(frame[start + 16:start + 20])
    elif kind == 0x86DD and len(frame) >= start + 40:
        dst = ipaddress.IPv6Address(frame[start + 24:start + 40])
    elif kind == 0x0806 and len(frame) >= start + 28:
        dst = ipaddress.IPv4Address(frame[start + 24:start + 28])  # ARP: the address asked for
    elif kind == 0x8892:
        return LINK
    if dst is None or not scope.contains(str(dst)):
        return None
    return str(dst)


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: ancillary struct timespec per frame
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The frame's kernel timestamp (seconds), or now where the kernel gave none."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(data[:_TIMESPEC.size])
            return float(seconds + nanoseconds / 1e9)
    return time.time()


def _slide(window: deque[float], now: float) -> int:
    """Add `now` to a one-second window and return how many frames it holds."""
    window.append(now)
    while now - window[0] >= 1.0:
        window.popleft()
    return len(window)


class _Windows:
    """Sliding one-second windows: overall and per key."""

    def __init__(self) -> None:
        self.overall: deque[float] = deque()
        self.hosts: dict[str, deque[float]] = {}
        self.peak = self.peak_host = 0

    def add(self, key: str, now: float) -> None:
        self.peak = max(self.peak, _slide(self.overall, now))
        if key != LINK:
            self.peak_host = max(self.peak_host, _slide(self.hosts.setdefault(key, deque()), now))


class WireCounter:
    """Counts outgoing frames on the given interfaces from start() to stop(); a no-op where raw sockets fail
    (counted is then False, and the report falls back to the rate limiter's reservations)."""

    def __init__(self, interfaces: list[str], scope: Scope) -> None:
        self.interfaces, self.scope = interfaces, scope
        self.count = WireCount()
        self.counted = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._windows = _Windows()

    def start(self) -> WireCounter:
        for name in self.interfaces:
            try:
                sock = self._open(name)
            except OSError as exc:
                log.info("not counting frames sent on %s (%s): the report gives the rate limiter's figures", name,
                         exc)
                continue
            thread = threading.Thread(target=self._run, args=(sock,), name=f"wirecount-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.counted = bool(self._threads)
        return self

    def _open(self, name: str) -> socket.socket:
        from scapy.arch.linux import attach_filter

        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            # The kernel stamps each frame as it passes, as for a capture: a reading thread that falls behind and
            # reads a burst at once must not make the frames look closer together (and the peak rate higher).
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            attach_filter(sock, BPF, name)  # compiled for the interface's link type (libpcap via scapy)
            sock.bind((name, ETH_P_ALL))
            sock.settimeout(0.2)
        except Exception:
            sock.close()
            raise
        return sock

    def _run(self, sock: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                try:
                    frame, ancillary, _flags, address = sock.recvmsg(128, _CMSG_SPACE)  # headers are enough
                except TimeoutError:
                    continue
                except OSError:
                    return  # the interface went away; the scan reports that itself
                if address[2] != socket.PACKET_OUTGOING:
                    continue  # queued before the filter was attached
                key = destination(frame, self.scope)
                if key is None:
                    continue
                now = _kernel_time(ancillary)
                with self._lock:
                    self.count.total += 1
                    self.count.per_host[key] += 1
                    self._windows.add(key, now)
        finally:
            sock.close()

    def stop(self) -> WireCount:
        """Stop counting (after a short drain, so frames already queued are counted) and return the count. Safe to
        call twice."""
        if not self._stop.is_set():
            time.sleep(0.3)
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        with self._lock:
            self.count.peak_rate, self.count.peak_host_rate = self._windows.peak, self._windows.peak_host
        return self.count
