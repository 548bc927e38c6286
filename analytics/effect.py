"""A campaign's effect from the analytics facts: difference in differences, small-shop share.

The campaign's streets (the treated group) are compared with the streets it did not cover
(the control group), each day of the campaign against each day of a baseline of the same
length just before it. With T and C the treated and control groups' daily spend:

    uplift per day = mean(T − C during) − mean(T − C before)

The common trend of the ward (a cold week, a holiday) cancels out; what is left is what
the campaign added per day, assuming the two groups would have moved alike without it
(the parallel-trends assumption, stated with the answer). Its 95 % confidence interval
treats days as independent draws: ±1.96 · √(var_during / n_during + var_before / n_before).

Facts carry no identities, so this needs none. The analysts' rules hold here too: a group
with fewer than k distinct residents (in any month of the window), or whose spend comes
from too few shops or is dominated by one or two of them, gives no figure at all; yen
figures are rounded to 3 significant figures.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.disclosure import ShopSpread, Thresholds, dominated, round_yen
from analytics.models import Fact

Z95 = 1.96


@dataclass(frozen=True, slots=True)
class DayCell:
    day: date
    shopping_street_id: int | None
    category: str
    store_type: str
    spend: int
    payments: int
    money: int = 0  # spend less points used: what a campaign's resident rate applies to


async def day_cells(session: AsyncSession, start: date, end: date) -> list[DayCell]:
    """Spend and payments per day × street × category × store type, ``start`` ≤ day < ``end``."""
    rows = await session.execute(
        select(
            Fact.local_date,
            Fact.shopping_street_id,
            Fact.category,
            Fact.store_type,
            func.sum(Fact.amount),
            func.sum(case((Fact.kind == "payment", 1), else_=0)),
            func.sum(Fact.amount - Fact.points_used),
        )
        .where(Fact.local_date >= start, Fact.local_date < end)
        .group_by(Fact.local_date, Fact.shopping_street_id, Fact.category, Fact.store_type)
    )
    return [
        DayCell(
            d, street, category, store_type, int(spend or 0), int(payments or 0), int(money or 0)
        )
        for d, street, category, store_type, spend, payments, money in rows
    ]


async def group_of(
    session: AsyncSession, start: date, end: date, covered: Callable[[DayCell], bool]
) -> tuple[int, ShopSpread]:
    """Distinct residents behind a group's spend, each counted once over the whole window
    by their person key (a resident active in two months is one person, not two), and how
    its spend spreads over shops."""
    where = (Fact.local_date >= start, Fact.local_date < end)
    columns = (Fact.shopping_street_id, Fact.category, Fact.store_type)
    rows = await session.execute(select(Fact.person_key, *columns).where(*where).distinct())
    people: set[str] = set()
    for key, street, category, store_type in rows:
        if covered(DayCell(start, street, category, store_type, 0, 0)):
            people.add(key)
    shops: dict[str, int] = defaultdict(int)
    spend = await session.execute(
        select(Fact.merchant_key, *columns, func.sum(Fact.amount))
        .where(*where)
        .group_by(Fact.merchant_key, *columns)
    )
    for shop, street, category, store_type, amount in spend:
        if covered(DayCell(start, street, category, store_type, 0, 0)):
            shops[shop] += int(amount or 0)
    return len(people), ShopSpread.of(shops.values())


def _daily(
    cells: list[DayCell], start: date, days: int, keep: Callable[[DayCell], bool]
) -> list[int]:
    totals = [0] * days
    for cell in cells:
        offset = (cell.day - start).days
        if 0 <= offset < days and keep(cell):
            totals[offset] += cell.spend
    return totals


@dataclass(frozen=True, slots=True)
class DiD:
    uplift_per_day: float
    ci95_per_day: tuple[float, float]
    days: int

    def as_dict(self) -> dict[str, Any]:
        """Published figures: yen to 3 significant figures, as every figure that leaves."""
        low, high = self.ci95_per_day
        return {
            "uplift_per_day": round_yen(round(self.uplift_per_day)),
            "uplift_per_day_ci95": [round_yen(round(low)), round_yen(round(high))],
            "uplift_total": round_yen(round(self.uplift_per_day * self.days)),
            "uplift_total_ci95": [
                round_yen(round(low * self.days)),
                round_yen(round(high * self.days)),
            ],
        }


def difference_in_differences(
    treated_before: list[int],
    treated_during: list[int],
    control_before: list[int],
    control_during: list[int],
) -> DiD | None:
    before = [t - c for t, c in zip(treated_before, control_before, strict=True)]
    during = [t - c for t, c in zip(treated_during, control_during, strict=True)]
    if len(before) < 2 or len(during) < 2:
        return None  # no variance, no interval: too short to say anything
    estimate = statistics.fmean(during) - statistics.fmean(before)
    se = math.sqrt(
        statistics.variance(during) / len(during) + statistics.variance(before) / len(before)
    )
    return DiD(estimate, (estimate - Z95 * se, estimate + Z95 * se), len(during))


async def campaign_effect(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    eligible: Callable[[int | None, str, str], bool],
    rules: Thresholds,
) -> dict[str, Any]:
    """Difference in differences of eligible vs other spend, campaign days ``start`` ≤ d <
    ``end`` against as many days before; and the share of eligible spend at small shops."""
    days = (end - start).days
    base = start - timedelta(days=days)
    cells = await day_cells(session, base, end)

    def treated(cell: DayCell) -> bool:
        return eligible(cell.shopping_street_id, cell.category, cell.store_type)

    def control(cell: DayCell) -> bool:
        return not treated(cell)

    answer: dict[str, Any] = {
        "method": (
            "difference in differences of daily spend: streets/shops the campaign covers"
            " against those it does not, campaign days against as many days before; 95 %"
            " interval with days as independent draws; assumes both groups would have moved"
            " alike without the campaign (parallel trends)"
        ),
        "days": days,
    }
    treated_people, treated_shops = await group_of(session, base, end, treated)
    control_people, control_shops = await group_of(session, base, end, control)
    treated_hidden = treated_people < rules.min_residents or dominated(treated_shops, rules)
    if treated_hidden or control_people < rules.min_residents or dominated(control_shops, rules):
        answer.update(
            did=None,
            suppressed=True,
            reason="too few residents or shops in a group, or one or two shops dominate it",
        )
    else:
        did = difference_in_differences(
            _daily(cells, base, days, treated),
            _daily(cells, start, days, treated),
            _daily(cells, base, days, control),
            _daily(cells, start, days, control),
        )
        answer.update(
            did=did.as_dict() if did else None,
            suppressed=False,
            reason=None if did else "window too short for an interval",
        )

    def small_share(first: date) -> float | None:
        last = first + timedelta(days=days)
        spend = [c for c in cells if first <= c.day < last and treated(c)]
        total = sum(c.spend for c in spend)
        small = sum(c.spend for c in spend if c.store_type == "small")
        return round(100 * small / total, 1) if total > 0 else None

    answer["small_shop_share_percent"] = (
        None if treated_hidden else {"during": small_share(start), "baseline": small_share(base)}
    )
    return answer


async def weekly_cells(session: AsyncSession, end: date, weeks: int) -> list[list[DayCell]]:
    """The facts' day cells of each of the ``weeks`` weeks before ``end`` (oldest first)."""
    start = end - timedelta(days=7 * weeks)
    by_week: list[list[DayCell]] = [[] for _ in range(weeks)]
    for cell in await day_cells(session, start, end):
        by_week[(cell.day - start).days // 7].append(cell)
    return by_week


async def weekly_spend(
    session: AsyncSession, end: date, weeks: int, eligible: Callable[[int | None, str, str], bool]
) -> list[int]:
    """Eligible spend in each of the ``weeks`` weeks before ``end`` (oldest first)."""
    return [
        sum(c.spend for c in week if eligible(c.shopping_street_id, c.category, c.store_type))
        for week in await weekly_cells(session, end, weeks)
    ]
