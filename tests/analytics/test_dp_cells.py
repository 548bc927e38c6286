"""DP mode's cells hand OpenDP exactly the rows the facts would, and the consumer's
incremental table is exactly what a bulk rebuild makes, whatever the cap."""

from __future__ import annotations

import io
import itertools
from datetime import date
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import dp, dp_cells
from analytics.dimensions import INTEGER_DIMENSIONS
from analytics.dp_cells import add_to_dp_cells, build_dp_cells
from analytics.models import DpCell, Fact
from machipay.db import create_engine, make_sessionmaker
from machipay.errors import ValidationFailed
from machipay.settings import Settings
from tests.analytics.facts import fact, store_facts
from tests.own_loop import run_on_own_loop

CAP = 20_000  # the cap migration 0024 builds the table with (the setting's default)
MONTHS = ["2031-05", "2031-06", "2031-07"]


def bounds(months: int, cap: int = CAP) -> dp.Bounds:
    return dp.Bounds(
        payments_per_cell=30,
        cells_per_resident=3,
        amount_cap=cap,
        delta=1e-7,
        months=months,
        max_rows=5_000_000,
    )


def _parsed(
    csv: bytes, dims: list[str], summed: tuple[str, ...] = dp.FACT_MEASURES
) -> list[tuple[Any, ...]]:
    """Every column of the rows handed over, in one order."""
    schema: dict[str, Any] = {
        name: pl.Int64 if name in INTEGER_DIMENSIONS else pl.String for name in dims
    }
    schema |= dict.fromkeys(("is_payment", *summed), pl.Int64)
    frame = pl.read_csv(io.BytesIO(csv), schema=schema, has_header=True)
    return sorted(frame.rows(), key=repr)


async def _both(
    session: AsyncSession,
    dims: list[str],
    filters: dict[str, list[Any]],
    months: list[str],
    cap: int = CAP,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The truncated rows from the facts and from the cells (and both count the same
    facts for the row limit)."""
    limits = bounds(len(months), cap)
    facts, cells = dp._facts_source(cap), dp._CELLS[dp_cells.rows_for(dims, filters) or ""]
    matched = await dp.facts_matched(session, facts, filters, months)
    assert await dp.facts_matched(session, cells, filters, months) == matched
    from_facts = await dp.truncated_csv(session, dims, filters, months, limits, source=facts)
    from_cells = await dp.truncated_csv(session, dims, filters, months, limits, source=cells)
    return _parsed(from_facts, dims), _parsed(from_cells, dims)


def _odd_history() -> list[dict[str, Any]]:
    """Facts with every case the truncation treats specially."""
    days = [date(2031, 5, 12), date(2031, 6, 3), date(2031, 7, 20)]
    rows: list[dict[str, Any]] = []
    # Over the cells limit: five streets and no street at all, in one month.
    for street in (None, 105, 101, 104, 102, 103):
        rows.append(fact(days[0], street, 1_800, resident="c-over", shop=f"s{street}"))
    # Over the payments limit in one cell, each payment over the cap, and a refund over it.
    rows += [fact(days[0], 101, 25_000, resident="c-many", shop="s1") for _ in range(35)]
    rows.append({**fact(days[0], 101, -45_000, resident="c-many", shop="s1"), "kind": "refund"})
    # Points and rewards over the cap, refunds taking them back; several months.
    for month, day in enumerate(days):
        paid = fact(
            day,
            102,
            30_000,
            resident=f"c-{month}",
            shop="s2",
            store_type="chain",
            age_band="70-79",
            reward=24_000,
        )
        rows.append({**paid, "points_used": 21_000})
        rows.append(
            {
                **fact(day, 102, -9_000, resident=f"c-{month}", shop="s2", store_type="chain"),
                "kind": "refund",
                "age_band": "70-79",
                "points_used": -3_000,
                "reward": -25_000,
            }
        )
    # A resident who moved mid-month (two districts under one pseudonym), a refund on no
    # street, a large store, and one pseudonym string seen in two months.
    rows.append(fact(days[1], 103, 700, resident="c-moved", shop="s3", district="kitazawa"))
    rows.append(fact(days[1], 103, 900, resident="c-moved", shop="s3", district="daita"))
    rows.append({**fact(days[1], None, -500, resident="c-moved", shop="s9"), "kind": "refund"})
    rows.append(fact(days[2], 104, 12_000, resident="c-moved", shop="s4", store_type="large"))
    # Enough ordinary residents that the cells' sums add up over many rows.
    for n in range(40):
        for day in days[: 1 + n % 3]:
            rows.append(
                fact(
                    day,
                    101 + n % 4,
                    300 + 97 * n,
                    resident=f"c-plain-{n}-{day.month}",
                    shop=f"s{n % 4}",
                    age_band=("20-29", "40-49")[n % 2],
                    store_type=("small", "chain")[n % 3 == 0],
                )
            )
    return rows


QUESTIONS: list[tuple[list[str], dict[str, list[Any]], list[str]]] = [
    (["shopping_street"], {"month": MONTHS[:1]}, MONTHS[:1]),
    (["shopping_street", "month"], {"month": MONTHS}, MONTHS),
    (["shopping_street"], {}, MONTHS),
    (["age_band", "store_type"], {"month": MONTHS[1:]}, MONTHS[1:]),
    (["district"], {"shopping_street": [101, 103]}, MONTHS),
    ([], {"store_type": ["chain"]}, MONTHS),
    (["month", "age_band", "district", "shopping_street", "store_type"], {}, MONTHS),
    (["week"], {"month": MONTHS[1:]}, MONTHS[1:]),
    (["week", "age_band"], {"district": ["daita"]}, MONTHS),
    ([], {"week": ["2031-W23"]}, MONTHS[1:2]),
]


async def test_the_cells_hand_over_exactly_the_rows_the_facts_do(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await store_facts(session, _odd_history())
    async with sessionmaker() as session:
        for dims, filters, months in QUESTIONS:
            from_facts, from_cells = await _both(session, dims, filters, months)
            assert from_facts, (dims, filters)
            assert from_cells == from_facts, (dims, filters)
            # And a DP query of these keys reads the cells.
            chosen = await dp._source(session, dims, filters, bounds(len(months)))
            assert chosen in dp._CELLS.values()
        # The bounds did bite: a row of 30 payments and a sum at 30 × the cap; a pseudonym
        # on six streets kept its first three (the shop on no street sorts last).
        by_street, _ = await _both(session, ["shopping_street"], {}, MONTHS[:1])
        assert (101, 30, 30 * CAP, 0, 0) in by_street
        wider = dp.Bounds(30, 10, CAP, 1e-7, 1, 5_000_000)
        unlimited = await dp.truncated_csv(
            session, ["shopping_street"], {}, MONTHS[:1], wider, source=dp._CELLS["place"]
        )
        assert len(_parsed(unlimited, ["shopping_street"])) == len(by_street) + 3
        # A query asking for spend alone is read the same, less the sums it does not need.
        assert dp.summed_for(("spend", "residents")) == ("amount",)
        spend_only = await dp.truncated_csv(
            session, ["shopping_street"], {}, MONTHS[:1], bounds(1), summed=("amount",)
        )
        assert _parsed(spend_only, ["shopping_street"], ("amount",)) == sorted(
            (row[:3] for row in by_street), key=repr
        )


async def test_a_query_over_the_row_limit_is_refused_before_its_rows_are_read(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await store_facts(session, _odd_history())
    async with sessionmaker() as session:
        matched = await dp.facts_matched(session, dp._facts_source(CAP), {}, MONTHS[:1])
        assert matched > 40
        for source in (dp._facts_source(CAP), dp._CELLS["place"]):
            for limit, refused in ((matched - 1, True), (matched, False)):
                tight = dp.Bounds(30, 3, CAP, 1e-7, 1, limit)
                try:
                    await dp.truncated_csv(session, [], {}, MONTHS[:1], tight, source=source)
                except ValidationFailed:
                    assert refused
                else:
                    assert not refused


async def test_other_keys_or_another_cap_read_the_facts_until_the_cells_are_rebuilt(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await store_facts(session, _odd_history())
    async with sessionmaker() as session:
        for dims, filters in (
            (["week"], {"shopping_street": [101]}),
            (["category"], {}),
            ([], {"hour": [11]}),
        ):
            chosen = await dp._source(session, dims, filters, bounds(3))
            assert chosen not in dp._CELLS.values(), (dims, filters)
        # The setting changed: the cells' sums were clamped with the old cap.
        assert (
            await dp._source(session, ["shopping_street"], {}, bounds(3, 5_000))
            is not (dp._CELLS["place"])
        )
        await build_dp_cells(session, 5_000)
        await session.commit()
    async with sessionmaker() as session:
        assert (
            await dp._source(session, ["shopping_street"], {}, bounds(3, 5_000))
            is (dp._CELLS["place"])
        )
        assert (
            await dp._source(session, ["shopping_street"], {}, bounds(3))
            is not (dp._CELLS["place"])
        )
        # The consumer now clamps with the new cap too.
        await store_facts(
            session,
            [fact(date(2031, 7, 21), 101, 19_000, resident="c-after", shop="s1") for _ in range(3)],
        )
    async with sessionmaker() as session:
        for dims, filters, months in QUESTIONS:
            from_facts, from_cells = await _both(session, dims, filters, months, cap=5_000)
            assert from_cells == from_facts, (dims, filters)
        incremental = await _cells(session)
        await build_dp_cells(session, 5_000)
        assert await _cells(session) == incremental
        await session.rollback()


async def _cells(session: AsyncSession) -> list[Any]:
    columns = list(DpCell.__table__.columns)
    return list(await session.execute(select(*columns).order_by(*columns)))


_STREETS = st.sampled_from([None, 201, 202, 203])
_FACTS = st.lists(
    st.tuples(
        st.integers(0, 2),  # month
        st.integers(0, 4),  # resident
        _STREETS,
        st.sampled_from(["small", "chain", "large"]),
        st.sampled_from(["30-39", "80+"]),
        st.sampled_from(["kitazawa", "daita"]),
        st.booleans(),  # a refund
        st.integers(1, 60_000),
        st.integers(0, 30_000),
        st.integers(0, 30_000),
    ),
    min_size=1,
    max_size=60,
)
_SOURCE_IDS = itertools.count(-(10**16), -1)


def _as_fact(drawn: tuple[Any, ...]) -> dict[str, Any]:
    month, resident, street, store_type, age, district, refund, amount, points, reward = drawn
    sign = -1 if refund else 1
    row = fact(
        date(2031, 5 + month, 1 + resident),
        street,
        sign * amount,
        resident=f"h-{resident}-{month}",
        shop="h-shop",
        store_type=store_type,
        age_band=age,
        district=district,
        reward=sign * reward,
    )
    return {
        **row,
        "source_id": next(_SOURCE_IDS),
        "kind": "refund" if refund else "payment",
        "points_used": sign * points,
    }


async def _incremental_equals_bulk(
    sessionmaker: async_sessionmaker[AsyncSession], facts: list[dict[str, Any]], cuts: list[int]
) -> None:
    async with sessionmaker() as session:
        # The consumer's batches: each one's facts, then its upsert.
        edges = [0, *sorted({c % len(facts) for c in cuts}), len(facts)]
        for start, end in itertools.pairwise(edges):
            if start < end:
                await session.execute(insert(Fact), facts[start:end])
                await add_to_dp_cells(session, facts[start:end])
        incremental = await _cells(session)
        # Every fact, once in each kind of row.
        weeks = [row for row in incremental if row.week]
        assert sum(row.facts for row in weeks) == len(facts)
        assert sum(row.facts for row in incremental) == 2 * len(facts)
        for dims, filters, months in (*QUESTIONS[:4], *QUESTIONS[-3:]):
            from_facts, from_cells = await _both(session, dims, filters, months)
            assert from_cells == from_facts, (dims, filters)
        await build_dp_cells(session, CAP)
        assert await _cells(session) == incremental
        await session.rollback()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(facts=_FACTS, cuts=st.lists(st.integers(0, 100), max_size=4))
def test_the_consumers_cells_equal_a_bulk_rebuild(
    database_url: str, facts: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    # Hypothesis drives a sync function; each example gets its own loop and engine on it.
    async def run() -> None:
        engine = create_engine(Settings(database_url=database_url), pool_size=2)
        try:
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT count(*) FROM analytics_facts")) == 0
            await _incremental_equals_bulk(
                make_sessionmaker(engine), [_as_fact(f) for f in facts], cuts
            )
        finally:
            await engine.dispose()

    run_on_own_loop(run())
