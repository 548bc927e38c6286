"""The bulk build of the rollups (the synthetic history's, set-based and unlogged) makes,
row for row, what the rebuild and the consumer make."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics.models import Fact, RollupCell, RollupMember, RollupShop
from analytics.rollups import build_all_rollups, rebuild_rollups
from analytics.synthetic import HistoryPlan, generate_history
from machipay.settings import Settings
from tests.analytics.facts import fact, store_facts

TABLES = (RollupCell, RollupMember, RollupShop)


async def _rollups(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in TABLES:
        columns = list(model.__table__.columns)
        rows = await session.execute(select(*columns).order_by(*columns))
        out[model.__tablename__] = [tuple(row) for row in rows]
    return out


async def test_the_bulk_build_equals_the_rebuild_and_the_consumer(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # Facts the consumer's way first (its incremental rollups), with what the synthetic
    # history never has: a shop on no street, a refund, a campaign.
    odd = [
        fact(date(2031, 5, 3), None, 1_200, resident="bulk-r1", shop="bulk-s1", person="bulk-p1"),
        {
            **fact(date(2031, 5, 4), 77, -300, resident="bulk-r1", shop="bulk-s2"),
            "kind": "refund",
            "person_key": "bulk-p1",
        },
        {**fact(date(2031, 6, 4), 77, 900, resident="bulk-r2", shop="bulk-s2"), "campaign_id": 5},
    ]
    async with sessionmaker() as session:
        await store_facts(session, odd)
        by_consumer = await _rollups(session)
        await build_all_rollups(session)
        assert await _rollups(session) == by_consumer
        await session.commit()

    settings = Settings(database_url=database_url, environment="test")
    written = await generate_history(
        sessionmaker, settings, HistoryPlan(payments=4_000, months=3, campaign_id=9, seed=5)
    )
    assert written > 4_000  # and the campaign month's uplift
    async with sessionmaker() as session:
        facts = await session.scalar(select(text("count(*)")).select_from(Fact))
        assert facts == written + len(odd)
        bulk = await _rollups(session)
        # Keys and tables are as the migrations made them (logged, with their primary keys).
        logged = await session.execute(
            text(
                "SELECT relname, relpersistence::text FROM pg_class"
                " WHERE relname LIKE 'analytics_rollup_%' AND relkind = 'r'"
            )
        )
        assert {name: kind for name, kind in logged} == dict.fromkeys(
            (m.__tablename__ for m in TABLES), "p"
        )
        keys = await session.scalars(
            text("SELECT conname FROM pg_constraint WHERE conname LIKE 'pk_analytics_rollup_%'")
        )
        assert sorted(keys) == sorted(f"pk_{m.__tablename__}" for m in TABLES)
        await rebuild_rollups(session)
        rebuilt = await _rollups(session)
        await session.rollback()
    assert {t: len(rows) for t, rows in bulk.items()} == {t: len(r) for t, r in rebuilt.items()}
    assert bulk == rebuilt
    assert len(bulk["analytics_rollup_members"]) > 4_000


async def test_the_consumers_batches_add_up_to_the_rebuild(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Cells and shops the consumer meets again in a later batch are added to, not replaced:
    new people, repeat people, a refund and another month, in four batches, give exactly the
    rollups a rebuild from the facts gives."""
    may, june = date(2032, 5, 3), date(2032, 6, 7)
    batches = [
        [fact(may, 88, 1_000, resident="inc-r1", shop="inc-s1", person="inc-p1")],
        [
            fact(may, 88, 700, resident="inc-r2", shop="inc-s1", person="inc-p2", reward=210),
            fact(may, 88, 400, resident="inc-r1", shop="inc-s2", person="inc-p1"),
        ],
        [
            {
                **fact(may, 88, -300, resident="inc-r1", shop="inc-s1", person="inc-p1"),
                "kind": "refund",
            },
            fact(may, None, 500, resident="inc-r3", shop="inc-s3", person="inc-p3"),
        ],
        [fact(june, 88, 900, resident="inc-r9", shop="inc-s1", person="inc-p1")],
    ]
    async with sessionmaker() as session:
        for batch in batches:
            await store_facts(session, batch)
        by_consumer = await _rollups(session)
        await rebuild_rollups(session)
        rebuilt = await _rollups(session)
        await session.rollback()
    assert by_consumer == rebuilt
    # The street's May cell, over both months' shapes: two people, three payments and a refund.
    street = [row for row in by_consumer["analytics_rollup_cells"] if row[0] == "street"]
    may_88 = [row for row in street if row[1] == "2032-05" and row[2] == "88"]
    assert [row[3:] for row in may_88] == [(3, 1_800, 0, 210, 2)]


async def test_rollups_written_in_small_chunks_equal_the_rebuild(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Each rollup table is written by one statement per chunk of rows; a member whose
    resident a later chunk meets again in the same cell still counts once, and every chunk's
    cells and shops add up."""
    from sqlalchemy import insert

    from analytics.rollups import add_to_rollups

    day = date(2033, 3, 9)
    facts = [
        fact(day, 55, 100 * (i + 1), resident=f"chunk-r{i % 3}", shop=f"chunk-s{i % 2}",
             person=f"chunk-p{i % 3}")
        for i in range(7)
    ]  # fmt: skip
    async with sessionmaker() as session:
        await session.execute(insert(Fact), facts)
        await add_to_rollups(session, facts, chunk=3)
        chunked = await _rollups(session)
        await rebuild_rollups(session)
        rebuilt = await _rollups(session)
        await session.rollback()
    assert chunked == rebuilt
    street = [r for r in chunked["analytics_rollup_cells"] if r[:3] == ("street", "2033-03", "55")]
    assert [row[3:] for row in street] == [(7, 2_800, 0, 0, 3)]
