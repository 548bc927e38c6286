"""PostgreSQL under real parallel connections: no overspend, no deadlock, no lock on hot credits."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import ledger
import tests.conftest as harness
from ledger import credit, debit
from machipay.db import make_sessionmaker
from tests.ledger.helpers import balances, open_and_fund, transfer


@pytest.fixture
def pg(postgres_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(postgres_engine)


async def _attempt(sm: async_sessionmaker[AsyncSession], src: str, dst: str, amount: int) -> str:
    try:
        await transfer(sm, src, dst, amount)
        return "ok"
    except ledger.InsufficientFunds:
        return "insufficient"
    except ledger.LedgerBusy:
        return "busy"


async def test_fifty_concurrent_spends_never_overspend(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    src, dst = f"resident:{unique}s:money", f"resident:{unique}d:money"
    await open_and_fund(pg, {src: 1_000, dst: 0})
    outcomes = await asyncio.gather(*(_attempt(pg, src, dst, 100) for _ in range(50)))
    assert outcomes.count("ok") == 10
    assert outcomes.count("insufficient") == 40
    assert await balances(pg, src, dst) == [0, 1_000]


async def test_opposite_transfers_do_not_deadlock(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(pg, {a: 10_000, b: 10_000})
    jobs = [_attempt(pg, a, b, 7) if i % 2 else _attempt(pg, b, a, 7) for i in range(200)]
    outcomes = await asyncio.gather(*jobs)
    assert outcomes == ["ok"] * 200  # no deadlock or lock timeout surfaced to any caller
    assert await balances(pg, a, b) == [10_000, 10_000]


async def test_hot_merchant_credits_take_no_row_lock(
    pg: async_sessionmaker[AsyncSession], postgres_engine: AsyncEngine, unique: str
) -> None:
    merchant = f"merchant:{unique}:payable"
    residents = [f"resident:{unique}p{i}:money" for i in range(500)]
    async with pg() as session:
        await ledger.open_accounts(session, [merchant, *residents])
        for start in range(0, 500, 60):
            chunk = residents[start : start + 60]
            await ledger.post_entry(
                session,
                idempotency_key=f"fund-{unique}-{start}",
                kind="topup",
                legs=[
                    debit(ledger.BANK_SETTLEMENT, 1_000 * len(chunk)),
                    *(credit(r, 1_000) for r in chunk),
                ],
            )
        await session.commit()

    # Hold the merchant's account row the way a balance UPDATE would. If credits locked the
    # row they would wait for this lock and fail on the short lock_timeout below.
    async with postgres_engine.connect() as blocker:
        await blocker.execute(
            text("SELECT 1 FROM ledger_accounts WHERE code = :c FOR NO KEY UPDATE"), {"c": merchant}
        )

        async def pay(resident: str) -> None:
            async with pg() as session:
                await session.execute(text("SET LOCAL lock_timeout = '500ms'"))
                await ledger.post_entry(
                    session,
                    idempotency_key=f"pay-{uuid.uuid4().hex}",
                    kind="payment",
                    legs=[debit(resident, 321), credit(merchant, 321)],
                )
                await session.commit()

        await asyncio.gather(*(pay(r) for r in residents))
        await blocker.rollback()

    assert await balances(pg, merchant) == [500 * 321]
    async with pg() as session:
        assert await ledger.compact_hot_account(session, merchant) == 500 * 321
        await session.commit()


async def test_a_hot_debit_waits_for_inflight_credits(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    """A refund from a payable sees every committed payment, so it can spend exactly the total."""
    merchant, resident = f"merchant:{unique}:payable", f"resident:{unique}:money"
    await open_and_fund(pg, {merchant: 0, resident: 10_000})
    payments = [_attempt(pg, resident, merchant, 100) for _ in range(30)]
    refunds = [_attempt(pg, merchant, resident, 100) for _ in range(30)]
    outcomes = await asyncio.gather(*payments, *refunds)
    paid = outcomes[:30].count("ok")
    refunded = outcomes[30:].count("ok")
    assert paid == 30
    assert refunded <= paid
    assert await balances(pg, merchant) == [(paid - refunded) * 100]


@pytest.mark.parametrize(
    "postings",
    [
        [("bank:settlement", 100)],  # one leg
        [("bank:settlement", 100), ("bank:city", -99)],  # does not sum to zero
    ],
)
async def test_raw_insert_of_an_unbalanced_entry_fails_at_commit(
    pg: async_sessionmaker[AsyncSession], postings: list[tuple[str, int]]
) -> None:
    async with pg() as session:
        entry_id = (
            await session.execute(
                text(
                    "INSERT INTO ledger_entries (idempotency_key, kind, fingerprint, content_hash, created_at)"
                    " VALUES (:k, 'raw', 'x', 'x', now()) RETURNING id"
                ),
                {"k": f"raw-{uuid.uuid4().hex}"},
            )
        ).scalar_one()
        for code, amount in postings:
            await session.execute(
                text(
                    "INSERT INTO ledger_postings (entry_id, account_id, amount, created_at)"
                    " SELECT :e, id, :amt, now() FROM ledger_accounts WHERE code = :c"
                ),
                {"e": entry_id, "amt": amount, "c": code},
            )
        # Every statement so far succeeded: the check is deferred to COMMIT.
        with pytest.raises(DBAPIError, match="unbalanced"):
            await session.commit()


async def test_raw_insert_of_a_posting_into_a_balanced_entry_fails_at_commit(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(pg, {a: 500, b: 0})
    posted = await transfer(pg, a, b, 50)
    async with pg() as session:
        await session.execute(
            text(
                "INSERT INTO ledger_postings (entry_id, account_id, amount, created_at)"
                " SELECT :e, id, 10, now() FROM ledger_accounts WHERE code = :c"
            ),
            {"e": posted.id, "c": "bank:city"},
        )
        with pytest.raises(DBAPIError, match="unbalanced"):
            await session.commit()


_LEDGER_POST = text(
    "SELECT entry_id FROM ledger_post(:k, 'raw', NULL, NULL, 'x', 'x', now(),"
    " CAST(:codes AS text[]), CAST(:amounts AS bigint[]))"
)


async def test_an_unbalanced_entry_through_ledger_post_fails_at_commit(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    # ledger_post's own postings queue no per-posting check: the entry's check at COMMIT
    # must still refuse what they add up to.
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(pg, {a: 500, b: 0})
    async with pg() as session:
        await session.execute(
            _LEDGER_POST, {"k": f"raw-{unique}", "codes": [a, b], "amounts": [100, -99]}
        )
        with pytest.raises(DBAPIError, match="unbalanced"):
            await session.commit()
    assert await balances(pg, a, b) == [500, 0]


async def test_a_raw_posting_after_ledger_post_into_its_entry_fails_at_commit(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    # Whatever spares ledger_post's postings their per-posting checks, a posting added to
    # its entry later in the same transaction is caught by the entry's check at COMMIT.
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(pg, {a: 500, b: 0})
    async with pg() as session:
        entry_id = (
            await session.execute(
                _LEDGER_POST, {"k": f"raw-{unique}", "codes": [a, b], "amounts": [50, -50]}
            )
        ).scalar_one()
        await session.execute(
            text(
                "INSERT INTO ledger_postings (entry_id, account_id, amount, created_at)"
                " SELECT :e, id, 10, now() FROM ledger_accounts WHERE code = 'bank:city'"
            ),
            {"e": entry_id},
        )
        with pytest.raises(DBAPIError, match="unbalanced"):
            await session.commit()


async def test_raw_posting_that_overdraws_a_hot_account_fails_at_commit(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    merchant = f"merchant:{unique}:payable"
    await open_and_fund(pg, {merchant: 0})
    async with pg() as session:
        entry_id = (
            await session.execute(
                text(
                    "INSERT INTO ledger_entries (idempotency_key, kind, fingerprint, content_hash, created_at)"
                    " VALUES (:k, 'raw', 'x', 'x', now()) RETURNING id"
                ),
                {"k": f"raw-{unique}"},
            )
        ).scalar_one()
        for code, amount in ((merchant, 500), ("platform:fees", -500)):
            await session.execute(
                text(
                    "INSERT INTO ledger_postings (entry_id, account_id, amount, created_at)"
                    " SELECT :e, id, :amt, now() FROM ledger_accounts WHERE code = :c"
                ),
                {"e": entry_id, "amt": amount, "c": code},
            )
        with pytest.raises(DBAPIError, match="insufficient funds"):
            await session.commit()


async def _sealing_after_its_first_look(
    pg: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> asyncio.Task[ledger.SealResult]:
    """A sealer run, started and watched until its first look at the transactions it waits
    for (it waits by polling, not on a lock)."""
    horizon_checked = asyncio.Event()

    def watch(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "pg_snapshot_xip" in statement:
            horizon_checked.set()

    event.listen(engine.sync_engine, "after_cursor_execute", watch)
    try:
        sealing = asyncio.create_task(ledger.seal_pending_entries(pg))
        await asyncio.wait_for(horizon_checked.wait(), timeout=30)
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", watch)
    return sealing


async def _two_pairs_all_sealed(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> tuple[str, str, str, str]:
    """Two funded payers (a, c) and two empty payees (b, d), with every entry so far sealed."""
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    c, d = f"resident:{unique}c:money", f"resident:{unique}d:money"
    await open_and_fund(pg, {a: 500, b: 0, c: 500, d: 0})
    await ledger.seal_pending_entries(pg)
    return a, b, c, d


async def test_the_sealer_waits_for_an_entry_still_being_written(
    pg: async_sessionmaker[AsyncSession], postgres_engine: AsyncEngine, unique: str
) -> None:
    # An entry id handed out to a transaction that has not committed yet lies below the
    # ids of entries committed after it: the sealer must not seal past it until it is
    # visible, or the block would later be found to cover one entry more than it hashed.
    a, b, c, d = await _two_pairs_all_sealed(pg, unique)
    async with pg() as open_session:
        early = await ledger.post_entry(
            open_session,
            idempotency_key=f"early-{unique}",
            kind="transfer",
            legs=[debit(a, 5), credit(b, 5)],
        )
        later = await transfer(pg, c, d, 5)
        assert later.id > early.id
        sealing = await _sealing_after_its_first_look(pg, postgres_engine)
        assert not sealing.done()  # held back by the open transaction
        await open_session.commit()
    sealed = await sealing
    assert sealed.entries >= 2
    async with pg() as session:
        report = await ledger.verify_ledger(session)
        last_sealed = (
            await session.execute(text("SELECT max(last_entry_id) FROM ledger_blocks"))
        ).scalar_one()
    assert report.ok, report.findings
    assert last_sealed >= later.id


async def test_the_sealer_waits_for_a_younger_transaction_holding_an_older_entry(
    pg: async_sessionmaker[AsyncSession], postgres_engine: AsyncEngine, unique: str
) -> None:
    # A group-committed batch takes its transaction id at its first call and its entry ids at
    # its last. So a younger transaction (a higher id) can hold an entry below one that an
    # older transaction has committed. When nothing younger has completed, a snapshot's
    # xmax stops at the older one, and its list of running ids leaves the younger one out.
    # The sealer must wait for it all the same. (Run alone, this is exactly that case; beside
    # other test workers, their completed transactions may lift the xmax and list it anyway.)
    a, b, c, d = await _two_pairs_all_sealed(pg, unique)
    async with pg() as older, pg() as younger:
        await older.execute(text("SELECT pg_current_xact_id()"))  # the older id
        early = await ledger.post_entry(
            younger,
            idempotency_key=f"younger-{unique}",
            kind="transfer",
            legs=[debit(a, 5), credit(b, 5)],
        )
        later = await ledger.post_entry(
            older,
            idempotency_key=f"older-{unique}",
            kind="transfer",
            legs=[debit(c, 5), credit(d, 5)],
        )
        assert later.id > early.id
        await older.commit()
        sealing = await _sealing_after_its_first_look(pg, postgres_engine)
        await asyncio.sleep(0.2)  # were it not waiting, it would seal meanwhile
        assert not sealing.done()  # held back by the younger transaction
        await younger.commit()
    await sealing
    async with pg() as session:
        report = await ledger.verify_ledger(session)
    assert report.ok, report.findings


async def test_a_transaction_in_another_database_does_not_hold_the_sealer_back(
    pg: async_sessionmaker[AsyncSession], unique: str
) -> None:
    # Transaction ids are the server's: a long transaction in another database of the same
    # server (a report, a restore, another deployment) is in every snapshot, yet can never
    # write this database's entries. It must not stop the chain from being sealed.
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(pg, {a: 500, b: 0})
    assert harness.PG_URL
    other = await asyncpg.connect(harness._asyncpg_dsn(harness.PG_URL))
    try:
        assert await other.fetchval("SELECT current_database()") != await _our_database(pg)
        elsewhere = other.transaction()
        await elsewhere.start()
        await other.fetchval("SELECT pg_current_xact_id()")  # holds a transaction id
        await transfer(pg, a, b, 5)
        sealed = await ledger.seal_pending_entries(pg)
        assert sealed.entries >= 1
        await elsewhere.rollback()
    finally:
        await other.close()
    async with pg() as session:
        report = await ledger.verify_ledger(session)
    assert report.ok, report.findings


async def _our_database(pg: async_sessionmaker[AsyncSession]) -> str:
    async with pg() as session:
        return str((await session.execute(text("SELECT current_database()"))).scalar_one())
