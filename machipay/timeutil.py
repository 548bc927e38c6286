"""Time: stored as UTC ``timestamptz``, shown, cut off and grouped in Asia/Tokyo."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_tokyo(value: datetime) -> datetime:
    return as_utc(value).astimezone(TOKYO)
