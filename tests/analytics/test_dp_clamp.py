"""DP mode's per-fact clamp is one SQL function (``analytics/sql/analytics_clamp.sql``): it
clamps as the rule says."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
