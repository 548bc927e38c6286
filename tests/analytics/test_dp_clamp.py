"""DP mode's per-fact clamp is one SQL function (``analytics/sql/analytics_clamp.sql``): it
clamps as the rule says, both of DP mode's sums call it, and the planner inlines it (no
function call per fact)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import dp, dp_cells

CAP = 20_000


@pytest.mark.parametrize("cap", [CAP, 1])
async def test_the_clamp_keeps_each_value_within_plus_or_minus_the_cap(
    sessionmaker: async_sessionmaker[AsyncSession], cap: int
) -> None:
    # Refunds are negative: they clamp to -cap, never to 0 or +cap.
    expected = {
        -cap - 1: -cap,
        -cap: -cap,
        -cap + 1: -cap + 1,
        0: 0,
        cap - 1: cap - 1,
        cap: cap,
        cap + 1: cap,
        -(2**62): -cap,
        2**62: cap,
    }
    async with sessionmaker() as session:
        clamped = dict(
            (
                await session.execute(
                    text(
                        "SELECT v, analytics_clamp(v, :cap) FROM unnest(CAST(:values AS bigint[])) v"
                    ),
                    {"cap": cap, "values": list(expected)},
                )
            )
            .tuples()
            .all()
        )
        assert clamped == expected
        # A NULL stays NULL (SUM skips it), not +cap: GREATEST and LEAST skip NULLs.
        assert (
            await session.scalar(text("SELECT analytics_clamp(NULL, :cap)"), {"cap": cap}) is None
        )


async def _statement_and_plan(session: AsyncSession, statement: Any) -> tuple[str, str]:
    """A statement as sent, and EXPLAIN VERBOSE's plan of it (planned, not run; the
    upsert's arrays are NULL, which plans the same): the expressions the executor
    evaluates, after inlining."""
    connection = await session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    arguments = [compiled.params[name] for name in compiled.positiontup or ()]
    raw = (await connection.get_raw_connection()).driver_connection
    rows = await raw.fetch(f"EXPLAIN VERBOSE {compiled}", *arguments)  # type: ignore[union-attr]
    return str(compiled), "\n".join(row[0] for row in rows)


async def test_both_sums_clamp_with_the_function_and_the_planner_inlines_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    one_month = dp.Bounds(30, 3, CAP, 1e-7, 1, 10)
    statements = {
        "the facts' read": dp._truncated(
            dp._facts_source(CAP), ["category"], {}, ["2031-05"], one_month
        ),
        "the cells' rebuild": text(dp_cells._from_facts("analytics_facts AS f")),
        "the consumer's upsert": dp_cells._ADD,
    }
    async with sessionmaker() as session:
        for label, statement in statements.items():
            sent, plan = await _statement_and_plan(session, statement)
            assert sent.count("analytics_clamp(") == 3, label
            # Inlined: the plan evaluates the function's body, never a call to it.
            assert "analytics_clamp" not in plan, (label, plan)
            assert "GREATEST(LEAST(" in plan, (label, plan)
        await session.rollback()
