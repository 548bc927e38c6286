"""Property tests: random sequences of transfers, reversals and replays keep the books right.

Each example runs against a fresh set of accounts in the run's database and checks, after
every step, that balances equal a plain Python model; at the end ``verify_ledger`` must be
green (every entry sums to zero, every balance equals its postings, no protected account
below zero, the hash chain intact). A second property tampers with one stored posting and
requires ``verify`` to name it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import ledger
from ledger import credit, debit
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from tests.conftest import (
    create_scratch_postgres,
    drop_scratch_postgres,
    migrated_engine,
)

RESIDENTS = 4
HOT_MERCHANT = "m"

# An operation is a tuple; the strategies below draw them.
transfers = st.tuples(
    st.just("transfer"),
    st.integers(0, RESIDENTS),  # source: a resident, or RESIDENTS = the merchant (a refund)
    st.integers(0, RESIDENTS),  # destination: likewise
    st.integers(1, 700),
)
topups = st.tuples(st.just("topup"), st.integers(0, RESIDENTS - 1), st.integers(1, 2_000))
reversals = st.tuples(st.just("reverse"), st.integers(0, 50))
replays = st.tuples(st.just("replay"), st.integers(0, 50), st.booleans())
compactions = st.tuples(st.just("compact"))
seals = st.tuples(st.just("seal"))
operations = st.lists(
    st.one_of(transfers, transfers, topups, reversals, replays, compactions, seals),
    min_size=1,
    max_size=25,
)


@dataclass
class Model:
    """What the balances must be, computed without the ledger."""

    balances: dict[str, int]
    posted: list[tuple[str, list[ledger.Leg], int]] = field(
        default_factory=list
    )  # key, legs, entry id
    reversed: set[int] = field(default_factory=set)

    def apply(self, legs: list[ledger.Leg]) -> None:
        for leg in legs:
            side = ledger.spec_for(leg.account).normal_side
            self.balances[leg.account] += leg.amount if side == "debit" else -leg.amount

    def allows(self, legs: list[ledger.Leg]) -> bool:
        trial = Model(dict(self.balances))
        trial.apply(legs)
        return all(v >= 0 for v in trial.balances.values())


def _account(index: int, tag: str) -> str:
    return (
        f"merchant:{tag}{HOT_MERCHANT}:payable"
        if index == RESIDENTS
        else f"resident:{tag}r{index}:money"
    )


async def _post(
    sm: async_sessionmaker[AsyncSession],
    key: str,
    legs: list[ledger.Leg],
    reverses_entry_id: int | None = None,
) -> ledger.PostedEntry:
    async with sm() as session:
        try:
            posted = await ledger.post_entry(
                session,
                idempotency_key=key,
                kind="prop",
                legs=legs,
                reverses_entry_id=reverses_entry_id,
            )
            await session.commit()
            return posted
        except BaseException:
            await session.rollback()
            raise


async def run_sequence(sm: async_sessionmaker[AsyncSession], ops: list[tuple[Any, ...]]) -> None:
    tag = uuid.uuid4().hex[:8]
    codes = [_account(i, tag) for i in range(RESIDENTS + 1)]
    async with sm() as session:
        await ledger.open_accounts(session, codes)
        await session.commit()
    model = Model({code: 0 for code in codes} | {ledger.BANK_SETTLEMENT: 0})
    async with sm() as session:
        model.balances[ledger.BANK_SETTLEMENT] = await ledger.get_balance(
            session, ledger.BANK_SETTLEMENT
        )

    for op in ops:
        kind = op[0]
        if kind in ("transfer", "topup"):
            if kind == "transfer":
                _, src, dst, amount = op
                if src == dst:
                    continue
                legs = [debit(codes[src], amount), credit(codes[dst], amount)]
            else:
                _, dst, amount = op
                legs = [debit(ledger.BANK_SETTLEMENT, amount), credit(codes[dst], amount)]
            key = f"{tag}-{len(model.posted)}-{uuid.uuid4().hex[:6]}"
            if model.allows([leg for leg in legs if leg.account != ledger.BANK_SETTLEMENT]):
                posted = await _post(sm, key, legs)
                assert posted.created
                model.apply(legs)
                model.posted.append((key, legs, posted.id))
            else:
                with pytest.raises(ledger.InsufficientFunds):
                    await _post(sm, key, legs)
        elif kind == "reverse" and model.posted:
            key, legs, entry_id = model.posted[op[1] % len(model.posted)]
            mirror = [ledger.Leg(leg.account, -leg.amount) for leg in legs]
            if entry_id in model.reversed:
                with pytest.raises(ledger.AlreadyReversed):
                    await _post(sm, f"rev-{uuid.uuid4().hex}", mirror, reverses_entry_id=entry_id)
            elif model.allows([leg for leg in mirror if leg.account != ledger.BANK_SETTLEMENT]):
                await _post(sm, f"rev-{key}", mirror, reverses_entry_id=entry_id)
                model.apply(mirror)
                model.reversed.add(entry_id)
            else:
                with pytest.raises(ledger.InsufficientFunds):
                    await _post(sm, f"rev-{key}", mirror, reverses_entry_id=entry_id)
        elif kind == "replay" and model.posted:
            key, legs, entry_id = model.posted[op[1] % len(model.posted)]
            if op[2]:
                again = await _post(sm, key, legs)
                assert (again.id, again.created) == (entry_id, False)
            else:
                changed = [
                    ledger.Leg(legs[0].account, legs[0].amount + 1),
                    ledger.Leg(legs[1].account, legs[1].amount - 1),
                ]
                with pytest.raises(ledger.IdempotencyConflict):
                    await _post(sm, key, changed)
        elif kind == "compact":
            async with sm() as session:
                await ledger.compact_hot_account(session, codes[RESIDENTS])
                await session.commit()
        elif kind == "seal":
            await ledger.seal_pending_entries(sm)

        async with sm() as session:
            actual = await ledger.get_balances(session, codes)
        assert actual == {c: model.balances[c] for c in codes}
        assert all(v >= 0 for v in actual.values())

    await ledger.seal_pending_entries(sm)
    async with sm() as session:
        report = await ledger.verify_ledger(session)
    assert report.ok, [str(f) for f in report.findings]


@contextlib.contextmanager
def own_loop() -> Iterator[asyncio.AbstractEventLoop]:
    # Hypothesis drives a sync function; each test gets its own loop and engine on it.
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_sequences_keep_the_books(database_url: str, ops: list[tuple[Any, ...]]) -> None:
    with own_loop() as loop:

        async def run() -> None:
            engine = create_engine(Settings(database_url=database_url), pool_size=2)
            try:
                await run_sequence(make_sessionmaker(engine), ops)
            finally:
                await engine.dispose()

        loop.run_until_complete(run())


# -- tampering ---------------------------------------------------------------------------


async def _tamper_and_verify(engine: AsyncEngine, posting_offset: int, delta: int) -> None:
    sm = make_sessionmaker(engine)
    tag = uuid.uuid4().hex[:8]
    a, b, m = f"resident:{tag}a:money", f"resident:{tag}b:money", f"merchant:{tag}:payable"
    async with sm() as session:
        await ledger.open_accounts(session, [a, b, m])
        await ledger.post_entry(
            session,
            idempotency_key=f"{tag}-1",
            kind="topup",
            legs=[debit(ledger.BANK_SETTLEMENT, 5_000), credit(a, 5_000)],
        )
        await ledger.post_entry(
            session,
            idempotency_key=f"{tag}-2",
            kind="p2p",
            legs=[debit(a, 1_200), credit(b, 1_200)],
        )
        await ledger.post_entry(
            session,
            idempotency_key=f"{tag}-3",
            kind="payment",
            legs=[debit(b, 700), credit(m, 700)],
        )
        await session.commit()
    await ledger.seal_pending_entries(sm)
    async with sm() as session:
        posting_ids = (
            await session.execute(
                text(
                    "SELECT p.id, p.entry_id FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id"
                    " WHERE a.code IN (:a, :b, :m) ORDER BY p.id"
                ),
                {"a": a, "b": b, "m": m},
            )
        ).all()
        posting_id, entry_id = posting_ids[posting_offset % len(posting_ids)]
        await _bypass_triggers(session)
        await session.execute(
            text("UPDATE ledger_postings SET amount = amount + :d WHERE id = :id"),
            {"d": delta, "id": posting_id},
        )
        await session.commit()
    async with sm() as session:
        report = await ledger.verify_ledger(session)
    named = " ".join(str(f) for f in report.findings)
    # Put it back for the next example (this database is private to the test).
    async with sm() as session:
        await _bypass_triggers(session)
        await session.execute(
            text("UPDATE ledger_postings SET amount = amount - :d WHERE id = :id"),
            {"d": delta, "id": posting_id},
        )
        await session.commit()
    assert not report.ok
    assert f"entry {entry_id}" in named
    assert f"posting {posting_id} " in named


async def _bypass_triggers(session: AsyncSession) -> None:
    """What an attacker with superuser rights would do first."""
    await session.execute(text("SET LOCAL session_replication_role = replica"))


@pytest.fixture
def scratch_url() -> Iterator[str]:
    with own_loop() as loop:
        url = loop.run_until_complete(create_scratch_postgres("machipay_tamper"))
        yield url
        loop.run_until_complete(drop_scratch_postgres(url))


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(posting_offset=st.integers(0, 5), delta=st.integers(-10_000, 10_000).filter(bool))
def test_tampering_with_one_posting_is_named_by_verify(
    scratch_url: str, posting_offset: int, delta: int
) -> None:
    with own_loop() as loop:

        async def run() -> None:
            engine = await migrated_engine(scratch_url)
            try:
                await _tamper_and_verify(engine, posting_offset, delta)
            finally:
                await engine.dispose()

        loop.run_until_complete(run())
