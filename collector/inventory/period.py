"""Report periods: a calendar month `YYYY-MM` in UTC, validated so that impossible periods never reach a query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

#: No Herkomst data predates this; an earlier period is a typo, not a request.
EARLIEST = (2020, 1)

_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """The period is malformed, impossible, too early or in the future; the message says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, order=True)
class Period:
    """One calendar month, [start, end) in UTC."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def in_progress(self, now: datetime | None = None) -> bool:
        """True while the month has not ended: its figures can still grow."""
        return (now or datetime.now(UTC)) < self.end


def current_period(now: datetime | None = None) -> Period:
    """The month that contains `now`."""
    now = now or datetime.now(UTC)
    return Period(now.year, now.month)


def parse_period(text: str, *, now: datetime | None = None) -> Period:
    """`YYYY-MM` → Period; PeriodError for anything malformed, impossible, before 2020 or in the future."""
    shown = text[:20]
    match = _PATTERN.match(text)
    if match is None:
        raise PeriodError("invalid_period", f"period {shown!r} is not a month; write it as YYYY-MM, e.g. 2026-11")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise PeriodError("invalid_period", f"period {shown!r} has no month {month:02d}; months run 01 to 12")
    period = Period(year, month)
    if (year, month) < EARLIEST:
        raise PeriodError(
            "period_too_early", f"period {shown!r} is before {EARLIEST[0]}-{EARLIEST[1]:02d}; no data is that old"
        )
    if period > current_period(now):
        raise PeriodError(
            "period_in_future", f"period {shown!r} has not begun yet; the latest is {current_period(now)}"
        )
    return period
