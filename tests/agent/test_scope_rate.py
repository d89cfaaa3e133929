"""Scope refusal and the packet-rate limiter."""

from __future__ import annotations

import ipaddress

import pytest

from agent.errors import ScopeError
from agent.ratelimit import RateLimiter
from agent.scope import Scope


def test_no_default_scope() -> None:
    with pytest.raises(ScopeError, match="no scope"):
        Scope.parse([])


def test_exclusions_and_refusals() -> None:
    scope = Scope.parse(["198.18.0.0/29,198.18.1.5"], ["198.18.0.4/31"])
    hosts = [str(ip) for ip in scope.addresses(100)]
    assert hosts == ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.6", "198.18.1.5"]
    assert scope.check("198.18.0.2") == ipaddress.ip_address("198.18.0.2")
    for bad in ("198.18.0.4", "198.18.0.9", "198.18.1.6"):
        with pytest.raises(ScopeError, match="outside"):
            scope.check(bad)
    # nmap would expand these; the agent refuses them outright.
    for expandable in ("198.18.0.1-6", "198.18.0.0/24", "lab-router", "198.18.0.*"):
        with pytest.raises(ScopeError, match="not a single IP"):
            scope.check(expandable)
    assert scope.filter(["198.18.0.1", "198.18.0.5", "8.8.8.8", "junk"]) == [ipaddress.ip_address("198.18.0.1")]


def test_names_refused_in_scope() -> None:
    with pytest.raises(ScopeError, match="not a CIDR"):
        Scope.parse(["example.org"])


def test_scope_too_large() -> None:
    with pytest.raises(ScopeError, match="limit|narrow"):
        list(Scope.parse(["198.18.0.0/15"]).addresses(1000))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _max_in_window(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_global_and_host_caps_hold_in_every_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 10, clock=clock, sleep=clock.sleep)
    per_host: dict[str, list[float]] = {}
    all_times: list[float] = []
    for i in range(600):
        host = f"h{i % 30}"
        limiter.acquire(host, 1)
        per_host.setdefault(host, []).append(clock.now)
        all_times.append(clock.now)
    assert _max_in_window(all_times) <= 100
    assert max(_max_in_window(t) for t in per_host.values()) <= 10
    assert limiter.packets_sent == 600
    assert 90 <= limiter.max_rate <= 100
    # 600 packets at 100/s cannot finish in much under 5 s.
    assert clock.now >= 5.0


def test_budget_larger_than_window_is_sliced() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 10, clock=clock, sleep=clock.sleep)
    limiter.acquire("h", 25)
    assert limiter.packets_sent == 25
    assert clock.now >= 2.0  # 25 packets at 10/s to one host


def test_broadcast_counts_only_globally() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 1, clock=clock, sleep=clock.sleep)
    for _ in range(9):  # 90% of the cap: the rest is headroom for the kernel's own packets
        limiter.acquire(None)
    assert clock.now == 0.0
    limiter.acquire(None)
    assert clock.now == pytest.approx(1.0)


def test_an_exchange_counts_its_packets_when_it_ends() -> None:
    """A TLS handshake reserved at t=0 whose last packets leave at t=0.8: the next exchange with that host may not
    start at t=1.05 (its packets would share a real second with the handshake's), only once 0.8 + 1 s passed."""
    clock = FakeClock()
    limiter = RateLimiter(100, 10, clock=clock, sleep=clock.sleep)
    with limiter.exchange():
        limiter.acquire("plc", 6)
        clock.now = 0.8  # the device answers slowly; our second flight goes out now
    clock.now = 1.05
    limiter.acquire("plc", 6)
    assert clock.now == pytest.approx(1.8)
    assert limiter.packets_sent == 12


def test_without_an_exchange_reservations_keep_their_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 10, clock=clock, sleep=clock.sleep)
    limiter.acquire("plc", 6)
    clock.now = 1.05
    limiter.acquire("plc", 6)
    assert clock.now == pytest.approx(1.05)
