"""Aggregate queries over the facts, every answer through disclosure control and logged."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.dimensions import DIMENSIONS, INTEGER_DIMENSIONS
from analytics.disclosure import (
    ShopSpread,
    Thresholds,
    complementary,
    round_count,
    round_yen,
    suppressed,
)
from analytics.dp_mode import answer_with_dp
from analytics.dp_pool import DpBusy
from analytics.guard import (
    GuardRefused,
    Published,
    answers_too_close,
    cell_predicate,
    charge,
    measure_bits,
    remember,
)
from analytics.models import Fact, QueryLog
from analytics.rollups import RolledUp, read_rollup, shape_for
from machipay.errors import Forbidden, ValidationFailed
from machipay.schemas import MAX_ID
from machipay.settings import Settings
from machipay.timeutil import utcnow

MEASURES = ("spend", "payments", "residents", "average_ticket", "points_used", "rewards")
YEN_MEASURES = ("spend", "average_ticket", "points_used", "rewards")
FINER_THAN_DISTRICT = ("shopping_street",)
MAX_FILTER_VALUES = 200


@dataclass(frozen=True, slots=True)
class Query:
    measures: tuple[str, ...]
    dimensions: tuple[str, ...]
    filters: dict[str, list[Any]]
    mode: str = "threshold"
    epsilon: float | None = None  # DP mode: the privacy loss this query may spend

    def as_dict(self) -> dict[str, Any]:
        asked: dict[str, Any] = {
            "measures": list(self.measures),
            "dimensions": list(self.dimensions),
            "filters": self.filters,
            "mode": self.mode,
        }
        if self.epsilon is not None:
            asked["epsilon"] = self.epsilon
        return asked


@dataclass(frozen=True, slots=True)
class Answer:
    rows: list[dict[str, Any]]
    suppressed: int
    mode: str
    epsilon_spent: float | None = None
    epsilon_remaining: float | None = None


def normalized_filters(filters: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Filter values as the facts store them: street ids, weekdays and hours are numbers
    (given as JSON numbers or digit strings), everything else text."""
    # Bounded as the columns are (BIGINT ids, SMALLINT weekday and hour): a value beyond
    # them matches nothing and would overflow the database driver.
    ranges = {"weekday": (1, 7), "hour": (0, 23)}
    out: dict[str, list[Any]] = {}
    for name, values in filters.items():
        if name in INTEGER_DIMENSIONS:
            low, high = ranges.get(name, (1, MAX_ID))
            try:
                numbers = [int(v) for v in values]
            except (TypeError, ValueError):
                raise ValidationFailed(
                    f"Filter {name!r} takes whole numbers.", field="filters"
                ) from None
            if not all(low <= n <= high for n in numbers):
                raise ValidationFailed(
                    f"Filter {name!r} takes whole numbers from {low} to {high}.", field="filters"
                )
            out[name] = numbers
        else:
            out[name] = [str(v) for v in values]
    return out


def check(query: Query) -> None:
    unknown = [m for m in query.measures if m not in MEASURES]
    if unknown or not query.measures:
        raise ValidationFailed(f"measures are some of {', '.join(MEASURES)}.", field="measures")
    for name in (*query.dimensions, *query.filters):
        if name not in DIMENSIONS:
            raise ValidationFailed(
                f"{name!r} is not a dimension; use {', '.join(DIMENSIONS)}.", field="dimensions"
            )
    if len(set(query.dimensions)) != len(query.dimensions):
        raise ValidationFailed("A dimension appears twice.", field="dimensions")
    for name, values in query.filters.items():
        if not values or len(values) > MAX_FILTER_VALUES:
            raise ValidationFailed(
                f"Filter {name!r} takes 1 to {MAX_FILTER_VALUES} values.", field="filters"
            )
    named = set(query.dimensions) | set(query.filters)
    if "hour" in named and named & set(FINER_THAN_DISTRICT):
        # Hour by hour a single street is a handful of people: only district or coarser.
        raise ValidationFailed(
            "Hour of day can be asked only at district level or coarser, not by street.",
            field="dimensions",
        )


def _conditions(filters: dict[str, list[Any]]) -> list[Any]:
    return [DIMENSIONS[name].in_(values) for name, values in filters.items()]


async def _log(
    session: AsyncSession,
    analyst_id: int,
    query: Query,
    outcome: str,
    *,
    cells: int = 0,
    hidden: int = 0,
    epsilon: float | None = None,
) -> None:
    """Every query goes into the log, answered or refused: who, when, what, what was shown."""
    session.add(
        QueryLog(
            analyst_id=analyst_id,
            asked_at=utcnow(),
            query=query.as_dict(),
            outcome=outcome,
            cells=cells,
            suppressed=hidden,
            epsilon=epsilon,
        )
    )
    await session.flush()


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        min_residents=settings.analytics_min_residents,
        min_merchants=settings.analytics_min_merchants,
        dominance_one=settings.analytics_dominance_one_percent,
        dominance_two=settings.analytics_dominance_two_percent,
    )


async def _cells_from_facts(session: AsyncSession, query: Query) -> RolledUp:
    """Cells straight from the facts: per cell, residents per month and spend per shop,
    the finest grain disclosure control needs."""
    columns = [DIMENSIONS[d] for d in query.dimensions]
    conditions = _conditions(query.filters)
    grain = await session.execute(
        select(
            *columns,
            Fact.period,
            Fact.merchant_key,
            func.sum(Fact.amount),
            func.sum(case((Fact.kind == "payment", 1), else_=0)),
            func.sum(Fact.points_used),
            func.sum(Fact.reward),
        )
        .where(*conditions)
        .group_by(*columns, Fact.period, Fact.merchant_key)
    )
    sums: dict[tuple[Any, ...], dict[str, int]] = {}
    shops: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    width = len(columns)
    for row in grain:
        key = tuple(row[:width])
        spend, payments, points, rewards = (int(v or 0) for v in row[width + 2 :])
        cell = sums.setdefault(key, {"spend": 0, "payments": 0, "points_used": 0, "rewards": 0})
        cell["spend"] += spend
        cell["payments"] += payments
        cell["points_used"] += points
        cell["rewards"] += rewards
        shops[key][row[width + 1]] += spend
    # Distinct people over every month the cell spans (person keys are stable).
    people = await session.execute(
        select(*columns, func.count(func.distinct(Fact.person_key)))
        .where(*conditions)
        .group_by(*columns)
    )
    residents = {tuple(row[:width]): int(row[width]) for row in people}
    return RolledUp(
        sums=sums,
        residents={key: count for key, count in residents.items() if key in sums},
        shops={k: ShopSpread.of(v.values()) for k, v in shops.items()},
    )


async def run_query(
    session: AsyncSession, settings: Settings, query: Query, *, analyst_id: int
) -> Answer:
    """Answer ``query`` with every cell through disclosure control; log it either way."""
    try:
        query = replace(query, filters=normalized_filters(query.filters))
        check(query)
        if query.mode == "dp":
            return await answer_with_dp(session, settings, query, analyst_id=analyst_id)
        return await _answer_with_thresholds(session, settings, query, analyst_id=analyst_id)
    except (ValidationFailed, Forbidden, DpBusy) as refusal:
        refusal.keep_changes = True  # type: ignore[misc] # the refusal is logged too
        await _log(session, analyst_id, query, "refused")
        raise


async def _refuse(session: AsyncSession, settings: Settings, analyst_id: int) -> GuardRefused:
    """A refusal costs the same whatever its cause (one query is charged already)."""
    await charge(session, analyst_id, settings.analytics_refusal_cost - 1)
    return GuardRefused()


async def _answer_with_thresholds(
    session: AsyncSession, settings: Settings, query: Query, *, analyst_id: int
) -> Answer:
    """Threshold mode: disclosure control on every cell, the differencing guard on the
    cells shown, and the analyst's daily allowance (analytics/guard.py)."""
    if await charge(session, analyst_id, 1) > settings.analytics_queries_per_day:
        raise await _refuse(session, settings, analyst_id)
    rules = thresholds(settings)
    shape = shape_for(query.dimensions, query.filters)
    if shape is not None:
        found = await read_rollup(session, shape, query.dimensions, query.filters)
    else:
        found = await _cells_from_facts(session, query)
    cells = found.sums
    residents: dict[tuple[Any, ...], int] = defaultdict(int, found.residents)
    columns = query.dimensions
    hidden_keys = {
        key
        for key, cell in cells.items()
        if suppressed(residents[key], found.shops.get(key, ShopSpread.of([])), rules)
    }
    hidden_keys |= complementary(
        list(cells), hidden_keys, len(columns), size=lambda k: (residents[k], cells[k]["spend"])
    )
    bits = measure_bits(query.measures)
    shown = [
        Published(cell_predicate(query.filters, columns, key), residents[key], bits)
        for key in cells
        if key not in hidden_keys
    ]
    if await answers_too_close(session, analyst_id, shown, rules.min_residents):
        raise await _refuse(session, settings, analyst_id)
    await remember(session, analyst_id, shown)
    rows: list[dict[str, Any]] = []
    for key in sorted(cells, key=lambda k: tuple(str(v) for v in k)):
        cell = cells[key]
        out: dict[str, Any] = dict(zip(query.dimensions, key, strict=True))
        if key in hidden_keys:
            out.update(dict.fromkeys(query.measures))
            out["suppressed"] = True
        else:
            values = {
                "spend": cell["spend"],
                "payments": cell["payments"],
                "residents": residents[key],
                "average_ticket": cell["spend"] / cell["payments"] if cell["payments"] else 0,
                "points_used": cell["points_used"],
                "rewards": cell["rewards"],
            }
            for measure in query.measures:
                value = values[measure]
                out[measure] = (
                    round_yen(value) if measure in YEN_MEASURES else round_count(int(value))
                )
            out["suppressed"] = False
        rows.append(out)
    hidden = len(hidden_keys)
    await _log(session, analyst_id, query, "answered", cells=len(rows), hidden=hidden)
    return Answer(rows=rows, suppressed=hidden, mode=query.mode)
