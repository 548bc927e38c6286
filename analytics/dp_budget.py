"""The privacy budget of DP mode: it belongs to the data, one account per month of facts.

Facts know a resident by a pseudonym that changes every month, and a month's facts are
kept for as long as the platform runs: what matters for a resident is how much ε has ever
been spent on the months that hold their payments, whoever spent it and whenever. So each
data month (YYYY-MM) has ``analytics_dp_epsilon_per_data_month`` in all, shared by every
analyst, and never refilled.

A query spends its ε from *every* month it reads. Its noise is calibrated to one
resident's contributions over all those months, so it is ε-DP for that resident's data in
any one of them; a month's ε then adds up, by sequential composition, over the queries
that read it. A query reading months M1..Mn is refused whole if any of them lacks the ε.

The months a query reads come from its filters only (``month``, and ``week`` mapped to the
months its days fall in); without either, the whole window from
``analytics_first_data_month`` to the current Tokyo month. Never from the facts: which
months hold data for a query's filters is exactly what must not leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.models import DataMonthBudget
from machipay.errors import Forbidden, ValidationFailed
from machipay.settings import Settings
from machipay.timeutil import to_tokyo, utcnow

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
# A hair of tolerance so that ten queries of ε = 0.1 fit in a budget of 1.
SLACK = 1e-9


class PrivacyBudgetExhausted(Forbidden):
    type_slug = "analytics-dp-budget-exhausted"
    title = "The privacy budget of the data asked for is spent"


@dataclass(frozen=True, slots=True)
class MonthBudget:
    month: str
    epsilon_spent: float
    epsilon_remaining: float


def _month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months_between(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    out: list[str] = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def window(first_data_month: str, now: datetime) -> list[str]:
    """Every month a DP query may read: the first data month to the current Tokyo month."""
    return _months_between(first_data_month, _month_of(to_tokyo(now).date()))


def _week_months(week: str) -> set[str]:
    found = _WEEK.match(week)
    try:
        if found is None:
            raise ValueError(week)
        monday = date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError:
        raise ValidationFailed(
            f"{week!r} is not an ISO week like 2026-W47.", field="filters"
        ) from None
    return {_month_of(monday + timedelta(days=d)) for d in range(7)}


def months_window(settings: Settings) -> list[str]:
    """The months DP mode may read now (the clock is read here, for tests to move it)."""
    return window(settings.analytics_first_data_month, utcnow())


def months_read(filters: dict[str, list[Any]], allowed: list[str]) -> list[str]:
    """The data months a query reads, from its filters and the window ``allowed``."""
    months = set(allowed)
    for value in filters.get("month", []):
        if not _MONTH.match(str(value)):
            raise ValidationFailed(f"{value!r} is not a month like 2026-11.", field="filters")
    if "month" in filters:
        months &= {str(v) for v in filters["month"]}
    if "week" in filters:
        months &= set().union(*(_week_months(str(w)) for w in filters["week"]))
    if not months:
        raise ValidationFailed(
            f"DP mode reads months {allowed[0]} to {allowed[-1]}; the filters leave none.",
            field="filters",
        )
    return sorted(months)


async def charge(
    session: AsyncSession, months: list[str], *, epsilon: float, total: float
) -> float:
    """Spend ``epsilon`` from each of ``months`` or from none; returns the least left in any
    of them. The rows are locked in month order, so two queries never deadlock and never
    both spend the last of a month."""
    await session.execute(
        pg_insert(DataMonthBudget)
        .values([{"month": m, "epsilon_spent": 0.0} for m in months])
        .on_conflict_do_nothing(index_elements=["month"])
    )
    locked = await session.execute(
        select(DataMonthBudget.month, DataMonthBudget.epsilon_spent)
        .where(DataMonthBudget.month.in_(months))
        .order_by(DataMonthBudget.month)
        .with_for_update()
    )
    spent: dict[str, float] = {month: float(value) for month, value in locked}
    short = [m for m in months if spent[m] + epsilon > total + SLACK]
    if short:
        left = max(0.0, total - max(spent[m] for m in short))
        raise PrivacyBudgetExhausted(
            f"This query needs ε = {epsilon:g} from each month it reads; "
            f"{', '.join(short)} {'has' if len(short) == 1 else 'have'} less left "
            f"(ε = {total:g} per month of data, shared by all analysts). "
            "Ask for a smaller ε or for other months.",
            epsilon_remaining=left,
            months_exhausted=short,
        )
    await session.execute(
        update(DataMonthBudget)
        .where(DataMonthBudget.month.in_(months))
        .values(epsilon_spent=DataMonthBudget.epsilon_spent + epsilon)
    )
    return max(0.0, total - epsilon - max(spent.values()))


async def budgets(session: AsyncSession, months: Iterable[str], total: float) -> list[MonthBudget]:
    """What is spent and left of each month's ε (months never charged have all of it)."""
    wanted = sorted(set(months))
    found = await session.execute(
        select(DataMonthBudget.month, DataMonthBudget.epsilon_spent).where(
            DataMonthBudget.month.in_(wanted)
        )
    )
    spent: dict[str, float] = {month: float(value) for month, value in found}
    return [
        MonthBudget(m, float(spent.get(m, 0.0)), max(0.0, total - float(spent.get(m, 0.0))))
        for m in wanted
    ]
