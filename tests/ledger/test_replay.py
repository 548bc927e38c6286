"""Replaying history (the demo's seed): postings carry the instant the seed replays, in the
seed's own transactions only; every other transaction is stamped by the database clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ledger
from ledger import Transfer, credit, debit
from machipay.timeutil import as_utc, held_clock, utcnow
from tests.ledger.helpers import open_and_fund

SM = async_sessionmaker[AsyncSession]


async def _posted_at(session: AsyncSession, entry_ids: list[int]) -> set[datetime]:
    rows = await session.execute(
        text("SELECT DISTINCT created_at FROM ledger_postings WHERE entry_id = ANY(:e)"),
        {"e": entry_ids},
    )
    return {as_utc(at) for at in rows.scalars()}


async def test_postings_carry_the_replayed_instant_in_that_transaction_only(
    sessionmaker: SM, unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 1_000, b: 0})
    then = datetime(2026, 10, 22, 3, 15, tzinfo=UTC)
    later = then + timedelta(hours=5)
    async with sessionmaker() as session:
        await ledger.stamp_postings_at(session, then)
        one = await ledger.post_entry(
            session,
            idempotency_key=f"r1-{unique}",
            kind="test",
            legs=[debit(a, 100), credit(b, 100)],
        )
        await ledger.stamp_postings_at(session, later)  # the next payment, hours on
        two = await ledger.post_transfers(
            session, [Transfer(f"r2-{unique}", a, b, 50)], kind="test"
        )
        await session.commit()
    started = utcnow()
    async with sessionmaker() as session:  # a transaction of its own: the real clock again
        three = await ledger.post_entry(
            session, idempotency_key=f"r3-{unique}", kind="test", legs=[debit(a, 10), credit(b, 10)]
        )
        await session.commit()
    async with sessionmaker() as session:
        assert await _posted_at(session, [one.id]) == {then}
        assert await _posted_at(session, [two[0].id]) == {later}
        real = await _posted_at(session, [three.id])
        assert real and min(real) >= started - timedelta(seconds=5)
        report = await ledger.verify_ledger(session)
    assert report.ok, [str(f) for f in report.findings]


async def test_a_replaying_session_posts_at_the_held_clock(sessionmaker: SM, unique: str) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 1_000, b: 0})
    replay = ledger.replaying_sessionmaker(sessionmaker)
    then = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
    with held_clock(then) as clock:
        async with replay() as session:
            entry = await ledger.post_entry(
                session,
                idempotency_key=f"h1-{unique}",
                kind="test",
                legs=[debit(a, 100), credit(b, 100)],
            )
            await session.commit()
        assert utcnow() == then
        clock.at = then + timedelta(days=1)
        assert utcnow() == then + timedelta(days=1)
    assert utcnow() > then + timedelta(days=1)  # the wall clock is back
    async with sessionmaker() as session:
        assert await _posted_at(session, [entry.id]) == {then}
        entry_at = await session.scalar(
            text("SELECT created_at FROM ledger_entries WHERE id = :e"), {"e": entry.id}
        )
    assert as_utc(entry_at) == then  # the entry (Python's clock) and its postings agree
