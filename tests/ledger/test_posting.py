"""The ledger's rules, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ledger
from ledger import Leg, credit, debit
from tests.ledger.helpers import balances, open_and_fund, transfer

SM = async_sessionmaker[AsyncSession]


async def test_transfer_moves_money_and_records_running_balances(
    sessionmaker: SM, unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 1_000, b: 0})
    posted = await transfer(sessionmaker, a, b, 300)
    assert posted.created
    assert await balances(sessionmaker, a, b) == [700, 300]
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT a.code, p.amount, p.balance_after, p.account_version FROM ledger_postings p"
                    " JOIN ledger_accounts a ON a.id = p.account_id WHERE p.entry_id = :e ORDER BY a.code"
                ),
                {"e": posted.id},
            )
        ).all()
    assert [tuple(r) for r in rows] == [(a, 300, 700, 2), (b, -300, 300, 1)]


async def test_replay_with_same_key_returns_first_entry_and_moves_nothing(
    sessionmaker: SM, unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 1_000, b: 0})
    first = await transfer(sessionmaker, a, b, 250, key=f"k-{unique}")
    again = await transfer(sessionmaker, a, b, 250, key=f"k-{unique}")
    assert (again.id, again.created) == (first.id, False)
    assert await balances(sessionmaker, a, b) == [750, 250]


async def test_same_key_with_different_content_is_refused(sessionmaker: SM, unique: str) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 1_000, b: 0})
    await transfer(sessionmaker, a, b, 250, key=f"k-{unique}")
    with pytest.raises(ledger.IdempotencyConflict):
        await transfer(sessionmaker, a, b, 251, key=f"k-{unique}")
    assert await balances(sessionmaker, a, b) == [750, 250]


async def test_overdraft_is_refused_and_writes_nothing(sessionmaker: SM, unique: str) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 100, b: 0})
    with pytest.raises(ledger.InsufficientFunds) as caught:
        await transfer(sessionmaker, a, b, 101, key=f"k-{unique}")
    assert caught.value.account == a
    assert await balances(sessionmaker, a, b) == [100, 0]
    # The key was not consumed: the same key may succeed once funds are there.
    await open_and_fund(sessionmaker, {a: 1})
    assert (await transfer(sessionmaker, a, b, 101, key=f"k-{unique}")).created


@pytest.mark.parametrize(
    "legs",
    [
        [Leg("bank:settlement", 100), Leg("bank:city", -99)],
        [Leg("bank:settlement", 100)],
        [Leg("bank:settlement", 0), Leg("bank:city", 0)],
        [Leg("bank:settlement", True), Leg("bank:city", -1)],  # bool is not an amount
        [Leg("bank:settlement", 1.0), Leg("bank:city", -1)],  # type: ignore[arg-type]
    ],
)
async def test_malformed_entries_are_refused_before_the_database(
    sessionmaker: SM, legs: list[Leg]
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(ledger.UnbalancedEntry):
            await ledger.post_entry(session, idempotency_key="never", kind="test", legs=legs)


async def test_unknown_account_is_refused(sessionmaker: SM, unique: str) -> None:
    async with sessionmaker() as session:
        with pytest.raises(ledger.UnknownAccount) as caught:
            await ledger.post_entry(
                session,
                idempotency_key=f"k-{unique}",
                kind="test",
                legs=[debit(ledger.BANK_SETTLEMENT, 5), credit(f"resident:{unique}:money", 5)],
            )
        await session.rollback()
    assert caught.value.account == f"resident:{unique}:money"


def test_chart_of_accounts_decides_account_properties() -> None:
    assert ledger.spec_for("resident:1:money").non_negative
    assert ledger.spec_for("merchant:9:payable").hot
    assert ledger.spec_for("bank:settlement").normal_side == "debit"
    with pytest.raises(ValueError, match="chart of accounts"):
        ledger.spec_for("resident:1:savings")


async def test_reversal_points_at_original_and_happens_once(sessionmaker: SM, unique: str) -> None:
    a, m = f"resident:{unique}:money", f"merchant:{unique}:payable"
    await open_and_fund(sessionmaker, {a: 1_000, m: 0})
    paid = await transfer(sessionmaker, a, m, 400)
    async with sessionmaker() as session:
        reversal = await ledger.reverse_entry(session, paid.id, idempotency_key=f"rev-{unique}")
        await session.commit()
        stored = (
            await session.execute(
                text("SELECT reverses_entry_id FROM ledger_entries WHERE id = :id"),
                {"id": reversal.id},
            )
        ).scalar_one()
    assert stored == paid.id
    assert await balances(sessionmaker, a, m) == [1_000, 0]
    async with sessionmaker() as session:
        with pytest.raises(ledger.AlreadyReversed):
            await ledger.reverse_entry(session, paid.id, idempotency_key=f"rev2-{unique}")
        await session.rollback()


async def test_hot_account_takes_credits_and_guards_debits(sessionmaker: SM, unique: str) -> None:
    a, m = f"resident:{unique}:money", f"merchant:{unique}:payable"
    await open_and_fund(sessionmaker, {a: 1_000, m: 0})
    for _ in range(3):
        await transfer(sessionmaker, a, m, 100)
    assert await balances(sessionmaker, m) == [300]
    with pytest.raises(ledger.InsufficientFunds):
        await transfer(sessionmaker, m, a, 301)  # a refund larger than the payable
    await transfer(sessionmaker, m, a, 300)
    assert await balances(sessionmaker, a, m) == [1_000, 0]


async def test_compaction_folds_hot_postings_without_changing_balance(
    sessionmaker: SM, unique: str
) -> None:
    a, m = f"resident:{unique}:money", f"merchant:{unique}:payable"
    await open_and_fund(sessionmaker, {a: 1_000, m: 0})
    await transfer(sessionmaker, a, m, 120)
    async with sessionmaker() as session:
        assert await ledger.compact_hot_account(session, m) == 120
        await session.commit()
    await transfer(sessionmaker, a, m, 30)
    assert await balances(sessionmaker, m) == [150]
    async with sessionmaker() as session:
        checkpoint = (
            await session.execute(
                text("SELECT balance FROM ledger_accounts WHERE code = :c"), {"c": m}
            )
        ).scalar_one()
    assert checkpoint == 120


async def _posted_at(sessionmaker: SM, entry: ledger.PostedEntry) -> datetime:
    # Postings take their time from the database (clock_timestamp() in ledger_post), so the
    # moments to ask about are read back, not taken from the product's clock.
    async with sessionmaker() as session:
        moment: datetime = (
            await session.execute(
                text("SELECT max(created_at) FROM ledger_postings WHERE entry_id = :e"),
                {"e": entry.id},
            )
        ).scalar_one()
    return moment


async def test_balance_as_of_a_past_moment(sessionmaker: SM, unique: str) -> None:
    a, m = f"resident:{unique}:money", f"merchant:{unique}:payable"
    await open_and_fund(sessionmaker, {a: 1_000, m: 0})
    first = await _posted_at(sessionmaker, await transfer(sessionmaker, a, m, 100))
    await transfer(sessionmaker, a, m, 200)
    async with sessionmaker() as session:
        await ledger.compact_hot_account(session, m)
        await session.commit()
    last = await _posted_at(sessionmaker, await transfer(sessionmaker, a, m, 50))
    async with sessionmaker() as session:
        assert await ledger.balance_as_of(session, a, first) == 900
        assert await ledger.balance_as_of(session, m, first) == 100
        assert await ledger.balance_as_of(session, m, first - timedelta(microseconds=1)) == 0
        assert await ledger.balance_as_of(session, a, last) == 650
        assert await ledger.balance_as_of(session, m, last) == 350


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger_postings SET amount = amount", "DELETE FROM ledger_entries"]
)
async def test_entries_and_postings_are_append_only(
    sessionmaker: SM, statement: str, unique: str
) -> None:
    # The triggers fire per row: there must be a posted entry for the statement to touch.
    await open_and_fund(sessionmaker, {f"resident:{unique}:money": 100})
    async with sessionmaker() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement))
        await session.rollback()


async def test_raw_sql_cannot_drive_a_protected_balance_negative(
    sessionmaker: SM, unique: str
) -> None:
    a = f"resident:{unique}:money"
    await open_and_fund(sessionmaker, {a: 10})
    async with sessionmaker() as session:
        with pytest.raises(DBAPIError, match=r"non_negative_balance|CHECK constraint"):
            await session.execute(
                text("UPDATE ledger_accounts SET balance = -1 WHERE code = :c"), {"c": a}
            )
        await session.rollback()


async def test_sealer_chains_blocks_and_verify_passes(sessionmaker: SM, unique: str) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 500, b: 0})
    await transfer(sessionmaker, a, b, 5)
    first = await ledger.seal_pending_entries(sessionmaker)
    assert first == ledger.SealResult(blocks=1, entries=2)  # a's funding and the transfer
    await transfer(sessionmaker, a, b, 5)
    second = await ledger.seal_pending_entries(sessionmaker)
    assert second == ledger.SealResult(blocks=1, entries=1)
    async with sessionmaker() as session:
        report = await ledger.verify_ledger(session)
        latest, earlier = (
            await session.execute(
                text("SELECT prev_hash, block_hash FROM ledger_blocks ORDER BY id DESC LIMIT 2")
            )
        ).all()
    assert report.ok, report.findings
    assert report.unsealed_entries == 0
    assert latest.prev_hash == earlier.block_hash
