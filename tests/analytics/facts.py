"""Facts written straight into the analytics store, as the consumer or the history
generator would write them: for tests that need a known history, fast."""

from __future__ import annotations

import itertools
import random
from datetime import date
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.dp_cells import add_to_dp_cells
from analytics.models import Fact
from analytics.rollups import add_to_rollups

# Negative like the synthetic history's, far below anything it writes.
_SOURCE_IDS = itertools.count(-(10**17) - random.randrange(10**15), -1)


def fact(
    day: date,
    street: int | None,
    amount: int,
    *,
    resident: str,
    shop: str,
    store_type: str = "small",
    category: str = "grocery",
    reward: int = 0,
    age_band: str = "30-39",
    district: str = "kitazawa",
    person: str | None = None,
) -> dict[str, Any]:
    """``resident`` is the month's pseudonym; ``person`` the stable key behind it (by
    default the pseudonym itself: a resident seen in one month only)."""
    iso = day.isocalendar()
    return {
        "source_id": next(_SOURCE_IDS),
        "kind": "payment",
        "period": day.strftime("%Y-%m"),
        "resident_key": resident,
        "person_key": person or resident,
        "merchant_key": shop,
        "age_band": age_band,
        "district_id": district,
        "shopping_street_id": street,
        "category": category,
        "store_type": store_type,
        "amount": amount,
        "points_used": 0,
        "reward": reward,
        "local_date": day,
        "month": day.strftime("%Y-%m"),
        "week": f"{iso.year}-W{iso.week:02d}",
        "weekday": iso.weekday,
        "hour": 11,
        "campaign_id": None,
    }


async def store_facts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert facts and fold them into the rollups and DP cells, as the consumer does (and
    commit)."""
    await session.execute(insert(Fact), rows)
    await add_to_rollups(session, rows)
    await add_to_dp_cells(session, rows)
    await session.commit()
