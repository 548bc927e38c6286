"""Group commit (``GroupCommitter`` over ``ledger_post_batch``): concurrent postings share a
round trip and a commit, yet each is accepted or refused on its own, keeps its idempotency
key's rules, and the books verify."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ledger
from ledger import GroupCommitter, credit, debit, draft_entry
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from tests.ledger.helpers import balances, open_and_fund
from tests.own_loop import run_on_own_loop

SM = async_sessionmaker[AsyncSession]


def p2p(src: str, dst: str, amount: int, key: str | None = None) -> ledger.EntryDraft:
    return draft_entry(
        idempotency_key=key or uuid.uuid4().hex,
        kind="p2p",
        legs=[debit(src, amount), credit(dst, amount)],
    )


async def verify(sessionmaker: SM) -> None:
    async with sessionmaker() as session:
        report = await ledger.verify_ledger(session)
    assert report.ok, [str(f) for f in report.findings]


async def test_concurrent_postings_share_batches_and_each_lands(
    sessionmaker: SM, unique: str
) -> None:
    payers = [f"resident:{unique}p{n}:money" for n in range(8)]
    shop = f"resident:{unique}shop:money"
    await open_and_fund(sessionmaker, {**dict.fromkeys(payers, 1_000), shop: 0})
    async with GroupCommitter(sessionmaker, flushers=2, max_batch=16) as committer:
        posted = await asyncio.gather(
            *(committer.post(p2p(payers[n % 8], shop, 10)) for n in range(80))
        )
    assert all(p.created for p in posted) and len({p.id for p in posted}) == 80
    # 80 callers, 2 flushers: most batches carry many entries.
    assert committer.stats.entries == 80
    assert committer.stats.batches < 40, committer.stats.batch_sizes
    assert committer.stats.fallbacks == 0
    assert await balances(sessionmaker, shop, *payers) == [800] + [900] * 8
    await verify(sessionmaker)


async def test_a_refused_entry_undoes_nothing_of_its_batch(sessionmaker: SM, unique: str) -> None:
    rich, poor, shop = (f"resident:{unique}{n}:money" for n in ("rich", "poor", "shop"))
    await open_and_fund(sessionmaker, {rich: 1_000, poor: 50, shop: 0})
    async with GroupCommitter(sessionmaker, flushers=1, max_batch=8, window_ms=20) as committer:
        answers = await asyncio.gather(
            committer.post(p2p(rich, shop, 100)),
            committer.post(p2p(poor, shop, 60)),  # 10 short
            committer.post(p2p(f"resident:{unique}ghost:money", shop, 1)),
            committer.post(p2p(rich, shop, 200)),
            return_exceptions=True,
        )
    assert committer.stats.batch_sizes == {4: 1}  # one batch, one round trip
    assert isinstance(answers[0], ledger.PostedEntry)
    assert isinstance(answers[1], ledger.InsufficientFunds)
    assert isinstance(answers[2], ledger.UnknownAccount)
    assert isinstance(answers[3], ledger.PostedEntry)
    assert await balances(sessionmaker, rich, poor, shop) == [700, 50, 300]
    await verify(sessionmaker)


async def test_keys_keep_their_rules_inside_and_across_batches(
    sessionmaker: SM, unique: str
) -> None:
    a, b = f"resident:{unique}a:money", f"resident:{unique}b:money"
    await open_and_fund(sessionmaker, {a: 1_000, b: 0})
    key = f"k-{unique}"
    async with GroupCommitter(sessionmaker, flushers=1, max_batch=8, window_ms=20) as committer:
        first, replay, other = await asyncio.gather(
            committer.post(p2p(a, b, 100, key)),
            committer.post(p2p(a, b, 100, key)),  # same key, same content: the same entry
            committer.post(p2p(a, b, 999, key)),  # same key, other content: refused
            return_exceptions=True,
        )
        later = await committer.post(p2p(a, b, 100, key))  # a later batch replays too
    assert isinstance(first, ledger.PostedEntry) and first.created
    assert replay == ledger.PostedEntry(first.id, False)
    assert isinstance(other, ledger.IdempotencyConflict)
    assert later == ledger.PostedEntry(first.id, False)
    assert await balances(sessionmaker, a, b) == [900, 100]
    await verify(sessionmaker)


async def test_a_failed_batch_is_posted_again_one_by_one(sessionmaker: SM, unique: str) -> None:
    """Another transaction holds one account past the lock timeout: the batch fails as a
    whole, and its entries are posted alone, so only the one needing that account waits
    and fails; the others land."""
    held, a, b, shop = (f"resident:{unique}{n}:money" for n in ("held", "a", "b", "shop"))
    await open_and_fund(sessionmaker, {held: 500, a: 500, b: 500, shop: 0})
    async with sessionmaker() as blocker:
        await blocker.execute(
            text("SELECT 1 FROM ledger_accounts WHERE code = :c FOR UPDATE"), {"c": held}
        )
        async with GroupCommitter(sessionmaker, flushers=1, max_batch=8, window_ms=20) as committer:
            answers = await asyncio.gather(
                committer.post(p2p(a, shop, 100)),
                committer.post(p2p(held, shop, 100)),
                committer.post(p2p(b, shop, 100)),
                return_exceptions=True,
            )
        await blocker.rollback()
    assert committer.stats.fallbacks == 1
    assert isinstance(answers[0], ledger.PostedEntry)
    assert isinstance(answers[1], ledger.LedgerBusy)
    assert isinstance(answers[2], ledger.PostedEntry)
    assert await balances(sessionmaker, held, a, b, shop) == [500, 400, 400, 200]
    await verify(sessionmaker)


async def _never_overspends(
    sessionmaker: SM, moves: list[tuple[int, int, int]], batch: int
) -> None:
    token = uuid.uuid4().hex[:10]
    codes = [f"resident:{token}{n}:money" for n in range(4)]
    await open_and_fund(sessionmaker, dict.fromkeys(codes, 500))
    drafts = [p2p(codes[s], codes[d], amount) for s, d, amount in moves if s != d]
    async with GroupCommitter(sessionmaker, flushers=3, max_batch=batch) as committer:
        answers = await asyncio.gather(
            *(committer.post(draft) for draft in drafts), return_exceptions=True
        )
    expected = dict.fromkeys(codes, 500)
    for draft, answer in zip(drafts, answers, strict=True):
        if isinstance(answer, ledger.PostedEntry):
            expected[draft.legs[0].account] -= draft.legs[0].amount
            expected[draft.legs[1].account] += draft.legs[0].amount
        else:
            assert isinstance(answer, ledger.InsufficientFunds), answer
    final = await balances(sessionmaker, *codes)
    assert final == [expected[c] for c in codes]  # what was answered is what happened
    assert min(final) >= 0 and sum(final) == 2_000
    await verify(sessionmaker)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 400)),
        min_size=1,
        max_size=40,
    ),
    batch=st.integers(1, 16),
)
def test_group_commit_never_overspends_and_each_answer_is_the_truth(
    database_url: str, moves: list[tuple[int, int, int]], batch: int
) -> None:
    # Hypothesis drives a sync function; each example gets its own loop and engine on it.
    async def run() -> None:
        engine = create_engine(Settings(database_url=database_url), pool_size=4)
        try:
            await _never_overspends(make_sessionmaker(engine), moves, batch)
        finally:
            await engine.dispose()

    run_on_own_loop(run())


def test_a_batch_has_bounds() -> None:
    with pytest.raises(ValueError):
        GroupCommitter.__init__(object.__new__(GroupCommitter), None, max_batch=61)  # type: ignore[arg-type]
