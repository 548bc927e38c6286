"""Time: stored as UTC ``timestamptz``, shown, cut off and grouped in Asia/Tokyo.

Every "now" the product takes in Python comes from :data:`clock`, so a test can move time
by hand (expiries, lock-outs) instead of sleeping through it. The database stamps ledger
postings with its own clock, and PyJWT checks tokens against the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


class Clock:
    """The wall clock. Tests put a hand-moved subclass in :data:`clock`."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class HeldClock(Clock):
    """A clock standing at one instant until moved: the demo's seed replays past weeks
    through the real services with it (``held_clock``). Never set over HTTP."""

    def __init__(self, at: datetime) -> None:
        self.at = as_utc(at)

    def now(self) -> datetime:
        return self.at


clock = Clock()


@contextmanager
def held_clock(at: datetime) -> Iterator[HeldClock]:
    """Hold :data:`clock` at ``at`` (move it with ``.at``) for the block, then give the
    wall clock back. For a seeding command running alone, before the server starts: the
    clock is the process's, so nothing else may run meanwhile."""
    global clock
    previous, clock = clock, HeldClock(at)
    try:
        yield clock
    finally:
        clock = previous


def utcnow() -> datetime:
    return clock.now()


def as_utc(value: datetime) -> datetime:
    """A naive datetime (from a driver or a hand-written test) was written as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_tokyo(value: datetime) -> datetime:
    return as_utc(value).astimezone(TOKYO)


def tokyo_day_start(moment: datetime) -> datetime:
    """Midnight in Tokyo of the day ``moment`` falls on (days and months are cut in Tokyo)."""
    return to_tokyo(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def tokyo_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=TOKYO)
    return start, start + timedelta(days=1)
