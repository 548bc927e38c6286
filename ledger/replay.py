"""Postings at a past instant, for a seed that replays history (the demo's weeks of trade).

A posting is stamped by the database (``ledger_posting_time()``), not by Python, so that a
settlement cut-off is final once compaction holds its lock. A seed that pays through the
real payment path "days ago" holds the product's clock (``machipay.timeutil.held_clock``)
and tells the database, for each of its own transactions only, which instant it replays.
Nothing reachable over HTTP calls this: only the seeding command.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from machipay.timeutil import as_utc, utcnow

_STAMP = text("SELECT set_config('ledger.posted_at', :at, true)")


async def stamp_postings_at(session: AsyncSession, moment: datetime) -> None:
    """Postings this transaction makes from now on carry ``moment`` (until it ends)."""
    await session.execute(_STAMP, {"at": as_utc(moment).isoformat()})


class _ReplaySession(Session):
    """A session whose every transaction starts stamped at the product's clock."""


@event.listens_for(_ReplaySession, "after_begin")
def _stamp_on_begin(_session: Session, _transaction: Any, connection: Any) -> None:
    connection.execute(_STAMP, {"at": utcnow().isoformat()})


def replaying_sessionmaker(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same database whose transactions post at ``utcnow()`` as it is when
    each begins (the seed holds the clock at the instant it replays)."""
    return async_sessionmaker(
        sessionmaker.kw["bind"],
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=_ReplaySession,
    )
