"""Packet-rate caps: one global and one per-host sliding-window limiter for everything the agent sends.

A sliding one-second window (rather than a token bucket with a burst allowance) guarantees that no one-second
interval ever holds more than the cap, which is what a capture measures. Callers reserve the packets a probe
will
send before sending them; the limiter also keeps the counters the report's scan fields need.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

WINDOW = 1.0
#: Share of each cap the agent reserves for itself. The rest is headroom for packets the kernel sends on its
#: behalf that no reservation can time exactly (ARP resolution, delayed ACKs, a retransmission).
HEADROOM = 0.9


class _Window:
    def __init__(self, rate: float) -> None:
        self.limit = max(1, int(rate * HEADROOM))
        self.sent: deque[float] = deque()

    def prune(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - WINDOW:
            self.sent.popleft()

    def wait_for(self, now: float, n: int) -> float:
        """Seconds until n more packets fit."""
        self.prune(now)
        n = min(n, self.limit)
        excess = len(self.sent) + n - self.limit
        if excess <= 0:
            return 0.0
        return self.sent[excess - 1] + WINDOW - now


class RateLimiter:
    """Blocks until a packet budget fits under both the global and the target's per-host cap."""

    def __init__(
        self,
        global_rate: float,
        host_rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if global_rate <= 0 or host_rate <= 0:
            raise ValueError("rates must be positive")
        self.global_rate = global_rate
        self.host_rate = min(host_rate, global_rate)
        self._global = _Window(global_rate)
        self._hosts: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.packets_sent = 0
        self.max_rate = 0.0
        self._local = threading.local()  # this thread's open exchange: [(stamp, packets, windows)]

    def acquire(self, host: str | None, n: int = 1) -> None:
        """Reserve n packets to host (None: not aimed at one host, e.g. a broadcast); waits as long as
        needed."""
        if n <= 0:
            return
        # A budget bigger than a window is reserved in window-sized slices.
        slice_size = max(1, min(self._global.limit, self._hosts_limit()))
        while n > 0:
            take = min(n, slice_size)
            self._acquire_slice(host, take)
            n -= take

    def _hosts_limit(self) -> int:
        return max(1, int(self.host_rate * HEADROOM))

    def _acquire_slice(self, host: str | None, n: int) -> None:
        while True:
            with self._lock:
                now = self._clock()
                windows = [self._global]
                if host is not None:
                    windows.append(self._hosts.setdefault(host, _Window(self.host_rate)))
                delay = max(w.wait_for(now, n) for w in windows)
                if delay <= 0:
                    for w in windows:
                        w.sent.extend([now] * n)
                    held = getattr(self._local, "held", None)
                    if held is not None:
                        held.append((now, n, windows))
                    self.packets_sent += n
                    self.max_rate = max(self.max_rate, float(len(self._global.sent)))
                    return
            self._sleep(delay)

    @contextmanager
    def exchange(self) -> Iterator[None]:
        """Count the packets reserved inside the block as sent when the block ends.

        A reservation is stamped when it is made, but some of its packets leave later: the TLS handshake's
        second flight, ACKs while an answer streams in, a SYN retransmission. Moving the stamps to the end of the
        exchange keeps every real one-second interval under the cap, at the price of waiting a little longer
        before the next exchange with the same host.
        """
        outer = getattr(self._local, "held", None)
        held: list[tuple[float, int, list[_Window]]] = []
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = outer
            with self._lock:
                now = self._clock()
                for stamp, n, windows in held:
                    for w in windows:
                        for _ in range(n):
                            try:
                                w.sent.remove(stamp)
                            except ValueError:  # already out of the window: nothing to move
                                break
                        w.sent.extend([now] * n)
                    if outer is not None:
                        outer.append((now, n, windows))
                self.max_rate = max(self.max_rate, float(len(self._global.sent)))

    def record_external(self, packets: int, rate: float, hosts: Iterable[str] = (), per_host: int = 0) -> None:
        """Account for packets a helper process (nmap) sent under the same cap, just now.

        The helper may have used the whole cap in its last second, so the global window is marked full (and each
        host's window holds `per_host`): what the agent sends next cannot add to that second.
        """
        with self._lock:
            now = self._clock()
            self.packets_sent += max(0, packets)
            self.max_rate = max(self.max_rate, rate)
            self._global.prune(now)
            self._global.sent.extend([now] * max(0, self._global.limit - len(self._global.sent)))
            for host in hosts:
                window = self._hosts.setdefault(host, _Window(self.host_rate))
                window.sent.extend([now] * min(per_host, window.limit))
