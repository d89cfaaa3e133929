"""Admission of reports: how many are stored at once and how many bytes they may hold, with a bounded wait.

    admission.body(nbytes)         the request body's wire bytes, reserved before the body is read
    admission.ingest(nbytes)       a slot to decode and store one report, and its decompressed bytes

A report waits its turn (first come, first served) for at most `ingest_queue_seconds`; after that, or when more
than `ingest_queue_max` are already waiting, it is answered 503 `ingest_busy` with Retry-After, and the agent keeps
it spooled and sends it again. So memory is bounded by the settings — the wire budget, and the parse budget times
what one decompressed byte costs once grouped — and not by what agents send or how many send at once.

Everything here runs on the event loop (no locks needed); the work itself runs in the thread pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from collector.errors import ApiError
from collector.settings import Settings


@dataclass
class Budget:
    """A counted resource (bytes or slots) shared first come, first served; a request larger than the whole
    budget is admitted alone."""

    capacity: int
    used: int = 0
    _waiters: deque[tuple[int, asyncio.Future[None]]] = field(default_factory=deque)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, amount: int, timeout: float) -> int:
        """Take `amount` (capped at the capacity) within `timeout` seconds; returns what was taken.
        Raises TimeoutError when it was not free in time."""
        amount = max(0, min(amount, self.capacity))
        if not self._waiters and self.used + amount <= self.capacity:
            self.used += amount
            return amount
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (amount, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except (TimeoutError, asyncio.CancelledError):
            if future.done() and not future.cancelled():
                self.release(amount)  # granted at the last moment: give it back
            else:
                future.cancel()
                self._waiters.remove(entry)
                self._wake()
            raise
        return amount

    def release(self, amount: int) -> None:
        self.used -= amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            amount, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if self.used + amount > self.capacity:
                return
            self._waiters.popleft()
            self.used += amount
            future.set_result(None)


class Admission:
    """The ingest gate of one collector process."""

    def __init__(self, *, slots: int, wire_bytes: int, parse_bytes: int, wait_seconds: float, queue_max: int,
                 retry_after: int) -> None:
        self.slots = Budget(slots)
        self.wire = Budget(wire_bytes)
        self.parse = Budget(parse_bytes)
        self.wait_seconds = wait_seconds
        self.queue_max = queue_max
        self.retry_after = retry_after

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        return cls(slots=settings.ingest_concurrency, wire_bytes=settings.ingest_wire_budget_bytes,
                   parse_bytes=settings.ingest_parse_budget_bytes, wait_seconds=settings.ingest_queue_seconds,
                   queue_max=settings.ingest_queue_max, retry_after=settings.retry_after_seconds)

    @property
    def waiting(self) -> int:
        return self.slots.waiting + self.wire.waiting + self.parse.waiting

    def busy(self, what: str) -> ApiError:
        return ApiError(503, "ingest_busy", f"the collector is busy ({what}); send the report again after "
                        f"{self.retry_after} s", headers={"Retry-After": str(self.retry_after)})

    async def _take(self, budget: Budget, amount: int, deadline: float, what: str) -> int:
        if budget.waiting >= self.queue_max:
            raise self.busy(f"{budget.waiting} reports are waiting for {what}")
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await budget.acquire(amount, max(0.0, remaining))
        except TimeoutError:
            raise self.busy(f"no {what} free within {self.wait_seconds:.0f} s") from None

    @asynccontextmanager
    async def body(self, nbytes: int) -> AsyncIterator[None]:
        """Hold `nbytes` of the wire budget while a body is read and processed."""
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        taken = await self._take(self.wire, nbytes, deadline, "memory for request bodies")
        try:
            yield
        finally:
            self.wire.release(taken)

    @asynccontextmanager
    async def ingest(self, nbytes: int) -> AsyncIterator[float]:
        """Hold an ingest slot and `nbytes` of the parse budget; yields the seconds left of the wait allowed
        (for SQLite's writer lock, taken in the worker thread)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        slot = await self._take(self.slots, 1, deadline, "ingest slot")
        try:
            taken = await self._take(self.parse, nbytes, deadline, "memory for decoding reports")
            try:
                yield max(1.0, deadline - loop.time())
            finally:
                self.parse.release(taken)
        finally:
            self.slots.release(slot)
