"""Time: stored as UTC ``timestamptz``, shown, cut off and grouped in Asia/Tokyo.

Every "now" the product takes in Python comes from :data:`clock`, so a test can move time
by hand (expiries, lock-outs) instead of sleeping through it. The database stamps ledger
postings with its own clock, and PyJWT checks tokens against the real one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


class Clock:
    """The wall clock. Tests put a hand-moved subclass in :data:`clock`."""

    def now(self) -> datetime:
        return datetime.now(UTC)


clock = Clock()


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
