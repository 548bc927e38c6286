"""``post_transfers`` (``ledger_post_transfers``): a batch of two-leg entries in one call
keeps every rule of ``post_entry`` — running balances and versions per posting in order,
idempotent keys, refused overdrafts and unknown accounts, entries verify."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ledger
from ledger import Transfer
from tests.ledger.helpers import balances, open_and_fund

SM = async_sessionmaker[AsyncSession]


async def post(sessionmaker: SM, transfers: list[Transfer]) -> list[ledger.PostedEntry]:
    async with sessionmaker() as session:
        posted = await ledger.post_transfers(session, transfers, kind="test_batch")
        await session.commit()
    return posted


async def test_a_batch_posts_each_entry_with_its_running_balance(
    sessionmaker: SM, unique: str
) -> None:
    a, b, c = (f"resident:{unique}{n}:money" for n in "abc")
    await open_and_fund(sessionmaker, {a: 1_000, b: 0, c: 0})
    # Residents' money is a liability: a debit lowers it, so Dr a / Cr b sends a to b.
    posted = await post(
        sessionmaker,
        [
            Transfer(f"t1-{unique}", a, b, 300),
            Transfer(f"t2-{unique}", a, c, 200),
            Transfer(f"t3-{unique}", b, c, 100),
        ],
    )
    assert [p.created for p in posted] == [True, True, True]
    assert len({p.id for p in posted}) == 3
    assert await balances(sessionmaker, a, b, c) == [500, 200, 300]
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT a.code, p.amount, p.balance_after, p.account_version"
                    " FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id"
                    " WHERE p.entry_id = ANY(:e) ORDER BY p.id"
                ),
                {"e": [p.id for p in posted]},
            )
        ).all()
        report = await ledger.verify_ledger(session)
    assert report.ok, [str(f) for f in report.findings]
    # Each account's versions follow one another and each balance is the one after it.
    by_account: dict[str, list[tuple[int, int]]] = {}
    for code, _amount, after, version in rows:
        by_account.setdefault(code, []).append((int(version), int(after)))
    final = dict(zip((a, b, c), await balances(sessionmaker, a, b, c), strict=True))
    for code, seen in by_account.items():
        versions = [v for v, _ in seen]
        assert versions == list(range(versions[0], versions[0] + len(versions)))
        assert seen[-1][1] == final[code]


async def test_a_replayed_batch_moves_nothing_and_other_content_is_refused(
    sessionmaker: SM, unique: str
) -> None:
    points = f"resident:{unique}:points"
    budget = f"campaign:{unique}:budget"
    await open_and_fund(sessionmaker, {points: 0})
    async with sessionmaker() as session:
        await ledger.open_account(session, budget)
        await ledger.post_entry(
            session,
            idempotency_key=f"fund-{unique}",
            kind="campaign_funding",
            legs=[ledger.debit(ledger.BANK_CITY, 500), ledger.credit(budget, 500)],
        )
        await session.commit()
    batch = [Transfer(f"g-{unique}", budget, points, 500)]
    first = await post(sessionmaker, batch)
    again = await post(sessionmaker, batch)
    assert (again[0].id, again[0].created) == (first[0].id, False)
    assert await balances(sessionmaker, points) == [500]
    with pytest.raises(ledger.IdempotencyConflict):
        await post(sessionmaker, [Transfer(f"g-{unique}", budget, points, 499)])


async def test_an_overdraft_anywhere_in_the_batch_refuses_all_of_it(
    sessionmaker: SM, unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 100, b: 0})
    # b ends where it began, but the first entry would take it below zero: refused whole.
    with pytest.raises(ledger.InsufficientFunds):
        await post(
            sessionmaker,
            [Transfer(f"o1-{unique}", b, a, 60), Transfer(f"o2-{unique}", a, b, 60)],
        )
    assert await balances(sessionmaker, a, b) == [100, 0]
    with pytest.raises(ledger.UnknownAccount):
        await post(sessionmaker, [Transfer(f"u-{unique}", a, f"resident:{unique}x:money", 1)])
