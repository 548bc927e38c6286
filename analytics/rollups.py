"""Rollups: the common query shapes kept pre-aggregated, so they answer in milliseconds.

A shape is a set of dimensions (always per month as well). For each shape and month the
store keeps, per cell:

- ``analytics_rollup_cells``: payments, spend, points used, rewards and the number of
  distinct residents (pseudonyms of that month);
- ``analytics_rollup_members``: the exact set of those pseudonyms, so a fact of a resident
  already counted does not count them twice;
- ``analytics_rollup_shops``: spend per shop (keyed hash), for the dominance rule.

They are maintained by the outbox consumer in the same transaction as the facts they come
from (so a crash loses or doubles nothing) and by the synthetic history generator.

Every shape also has an all-months partition (month ``*``): cells summed over all time,
and members that are *person* keys (stable across months, analytics/pseudonyms.py), so
its resident counts are distinct people over the whole history, a resident active in ten
months counted once. It grows with the number of distinct (cell, person) pairs, not with
payments.

A query is answered from a shape when its dimensions, less month, are exactly the shape
and it filters only on those and month: its cells are then the shape's cells: per month
when it asks by month or for one month; from the all-months partition when it names no
month; summed over its months otherwise, with the distinct people of those months
counted from the facts (monthly pseudonyms cannot be joined). Anything else reads facts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.dimensions import DIMENSIONS, INTEGER_DIMENSIONS
from analytics.disclosure import ShopSpread
from analytics.models import Fact, RollupCell, RollupMember, RollupShop
from analytics.unnest import unnest_insert
from machipay.db import table_of

SHAPES: dict[str, tuple[str, ...]] = {
    # The whole ward: its members are every (month, pseudonym), the differencing guard's
    # population of a query that filters on nothing but months.
    "ward": (),
    "street": ("shopping_street",),
    "district": ("district",),
    "category": ("category",),
    "store_type": ("store_type",),
    "age_band": ("age_band",),
    "campaign": ("campaign",),
    "street_category": ("shopping_street", "category"),
    "street_age_band": ("shopping_street", "age_band"),
    "weekday_hour": ("weekday", "hour"),
    "district_weekday_hour": ("district", "weekday", "hour"),
}
# Where each dimension sits in a fact row (the ingest's dicts): the column's name.
FACT_FIELDS = {name: column.key for name, column in DIMENSIONS.items() if name != "month"}
MONTH = re.compile(r"\d{4}-\d{2}")
NONE = "~"  # a missing value (a shop on no street, a payment no campaign rewarded)
# Every shape is also kept over all months (month "*"): distinct people over all time, and
# a query across every month ranks a cell's shops from those rows, not every month's.
ALL_MONTHS = "*"


def encode(values: Iterable[Any]) -> str:
    return "|".join(NONE if v is None else str(v) for v in values)


def decode(shape: str, cell: str) -> tuple[Any, ...]:
    out: list[Any] = []
    if not SHAPES[shape]:
        return ()
    for name, part in zip(SHAPES[shape], cell.split("|"), strict=True):
        if part == NONE:
            out.append(None)
        else:
            out.append(int(part) if name in INTEGER_DIMENSIONS else part)
    return tuple(out)


@dataclass
class _Delta:
    cells: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    members: set[tuple[str, str, str, str]] = field(default_factory=set)
    shops: dict[tuple[str, str, str, str], int] = field(default_factory=lambda: defaultdict(int))


def _delta(facts: Iterable[Mapping[str, Any]]) -> _Delta:
    delta = _Delta()
    for fact in facts:
        month = fact["month"]
        is_payment = 1 if fact["kind"] == "payment" else 0
        for shape, dims in SHAPES.items():
            cell = encode(fact[FACT_FIELDS[d]] for d in dims)
            for period in (month, ALL_MONTHS):
                sums = delta.cells.setdefault((shape, period, cell), [0, 0, 0, 0])
                sums[0] += is_payment
                sums[1] += fact["amount"]
                sums[2] += fact["points_used"]
                sums[3] += fact["reward"]
                delta.shops[(shape, period, cell, fact["merchant_key"])] += fact["amount"]
            # Pseudonyms are per period = month, so (month, pseudonym) is one person-month;
            # over all months the member is the person.
            delta.members.add((shape, month, cell, fact["resident_key"]))
            delta.members.add((shape, ALL_MONTHS, cell, fact["person_key"]))
    return delta


async def add_to_rollups(
    session: AsyncSession, facts: Sequence[Mapping[str, Any]], *, chunk: int = 5_000
) -> None:
    """Fold newly stored facts into every shape (call once per fact: not idempotent)."""
    if not facts:
        return
    delta = _delta(facts)
    new_people: dict[tuple[str, str, str], int] = defaultdict(int)
    # Every set goes in key order, so two consumers take their row locks in one order; as
    # one set-based statement per chunk (sent row by row, the cells and shops cost the
    # consumer ~17 statements per payment, pg_stat_statements).
    for shape, month, cell in await _MEMBERS_INSERT.execute(
        session, sorted(delta.members), chunk=chunk
    ):
        new_people[(shape, month, cell)] += 1
    cells = [(*key, *sums, new_people.get(key, 0)) for key, sums in sorted(delta.cells.items())]
    await _CELLS_UPSERT.execute(session, cells, chunk=chunk)
    shops = [(*key, spend) for key, spend in sorted(delta.shops.items())]
    await _SHOPS_UPSERT.execute(session, shops, chunk=chunk)


# A member already counted (its cell's resident counted) is not returned: only the new
# ones add to their cells' resident counts.
_MEMBERS_INSERT = unnest_insert(
    table_of(RollupMember),
    ("shape", "month", "cell", "resident_key"),
    "ON CONFLICT DO NOTHING RETURNING t.shape, t.month, t.cell",
)
_CELLS_UPSERT = unnest_insert(
    table_of(RollupCell),
    ("shape", "month", "cell", "payments", "spend", "points_used", "rewards", "residents"),
    "ON CONFLICT (shape, month, cell) DO UPDATE SET"
    " payments = t.payments + EXCLUDED.payments, spend = t.spend + EXCLUDED.spend,"
    " points_used = t.points_used + EXCLUDED.points_used,"
    " rewards = t.rewards + EXCLUDED.rewards, residents = t.residents + EXCLUDED.residents",
)
_SHOPS_UPSERT = unnest_insert(
    table_of(RollupShop),
    ("shape", "month", "cell", "merchant_key", "spend"),
    "ON CONFLICT (shape, month, cell, merchant_key) DO UPDATE SET spend = t.spend + EXCLUDED.spend",
)


def shape_for(dimensions: Iterable[str], filters: Iterable[str]) -> str | None:
    """The shape that answers a query exactly, if one does."""
    dims = set(dimensions) - {"month"}
    if not set(filters) <= dims | {"month"}:
        return None
    for shape, shape_dims in SHAPES.items():
        if set(shape_dims) == dims:
            return shape
    return None


@dataclass(frozen=True, slots=True)
class RolledUp:
    """Cells by key in the query's dimension order: sums, residents per month, shop spend."""

    sums: dict[tuple[Any, ...], dict[str, int]]
    residents: dict[tuple[Any, ...], int]
    shops: dict[tuple[Any, ...], ShopSpread]


def _key(
    shape: str, month: str, cell: str, dimensions: tuple[str, ...]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    values = dict(zip(SHAPES[shape], decode(shape, cell), strict=True))
    values["month"] = month
    return tuple(values[d] for d in dimensions), values


def _keep(values: dict[str, Any], filters: Mapping[str, list[Any]]) -> bool:
    return all(values[name] in allowed for name, allowed in filters.items())


async def read_rollup(
    session: AsyncSession,
    shape: str,
    dimensions: tuple[str, ...],
    filters: Mapping[str, list[Any]],
) -> RolledUp:
    months = filters.get("month")
    where: list[Any] = [RollupCell.shape == shape]
    by_month = "month" in dimensions
    shop_where: list[Any] = [RollupShop.shape == shape]
    if months or by_month:
        where.append(RollupCell.month != ALL_MONTHS)
        shop_where.append(RollupShop.month != ALL_MONTHS)
    else:
        where.append(RollupCell.month == ALL_MONTHS)
        shop_where.append(RollupShop.month == ALL_MONTHS)
    if months:
        where.append(RollupCell.month.in_(months))
        shop_where.append(RollupShop.month.in_(months))
    sums: dict[tuple[Any, ...], dict[str, int]] = {}
    residents: dict[tuple[Any, ...], int] = defaultdict(int)
    rows = await session.execute(
        select(
            RollupCell.month,
            RollupCell.cell,
            RollupCell.payments,
            RollupCell.spend,
            RollupCell.points_used,
            RollupCell.rewards,
            RollupCell.residents,
        ).where(*where)
    )
    for month, cell, payments, spend, points, rewards, people in rows:
        key, values = _key(shape, month, cell, dimensions)
        if not _keep(values, filters):
            continue
        total = sums.setdefault(key, {"spend": 0, "payments": 0, "points_used": 0, "rewards": 0})
        total["spend"] += spend
        total["payments"] += payments
        total["points_used"] += points
        total["rewards"] += rewards
        residents[key] = people  # exact when each cell is one month, or all of them
    if months and len(set(months)) > 1 and not by_month:
        residents = defaultdict(int, await persons_by_cell(session, dimensions, filters))
    # Per shop summed over the months the answer merges, then ranked in the database: a
    # cell's thousands of shop rows come back as one line (count, two largest, total).
    per_shop = (
        select(
            *([RollupShop.month] if by_month else []),
            RollupShop.cell,
            func.sum(RollupShop.spend).label("spend"),
        )
        .where(*shop_where)
        .group_by(
            *([RollupShop.month] if by_month else []), RollupShop.cell, RollupShop.merchant_key
        )
        .subquery()
    )
    partition = [per_shop.c.month, per_shop.c.cell] if by_month else [per_shop.c.cell]
    positive = case((per_shop.c.spend > 0, per_shop.c.spend), else_=0)
    ranked = select(
        *partition,
        positive.label("positive"),
        func.row_number().over(partition_by=partition, order_by=positive.desc()).label("rank"),
    ).subquery()
    grouped = [ranked.c.month, ranked.c.cell] if by_month else [ranked.c.cell]
    spreads = await session.execute(
        select(
            *grouped,
            func.count(),
            func.max(case((ranked.c.rank == 1, ranked.c.positive), else_=0)),
            func.max(case((ranked.c.rank == 2, ranked.c.positive), else_=0)),
            func.sum(ranked.c.positive),
        ).group_by(*grouped)
    )
    shops: dict[tuple[Any, ...], ShopSpread] = {}
    for row in spreads:
        month, cell = (row[0], row[1]) if by_month else ("", row[0])
        key = _key(shape, month, cell, dimensions)[0]
        if key in sums:  # the cells the filters kept
            shops[key] = ShopSpread(*(int(v or 0) for v in row[-4:]))
    return RolledUp(sums=sums, residents=dict(residents), shops=shops)


def _cell_sql(dimensions: tuple[str, ...]) -> str:
    """The cell key as SQL, byte for byte what ``encode`` makes of a fact in Python."""
    if not dimensions:
        return "''"
    return " || '|' || ".join(
        f"COALESCE(CAST({FACT_FIELDS[d]} AS TEXT), '{NONE}')" for d in dimensions
    )


async def rebuild_rollups(session: AsyncSession, months: Sequence[str] | None = None) -> None:
    """Recompute the rollups of ``months`` (all when None) from the facts, in the database:
    after a bulk load of facts (the synthetic history) or a new shape."""
    scope = (
        ""
        if months is None
        else " WHERE month IN (" + ", ".join(f"'{m}'" for m in months if MONTH.fullmatch(m)) + ")"
    )
    # A bulk rebuild scans every fact of its months: longer than a request may take.
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    # The consumer folds new facts in with upserts: it waits here until the rebuild has
    # committed, so a fact is counted by the rebuild or by the consumer, never both.
    await session.execute(
        text(
            "LOCK TABLE analytics_rollup_cells, analytics_rollup_members,"
            " analytics_rollup_shops IN EXCLUSIVE MODE"
        )
    )
    for model in (RollupCell, RollupMember, RollupShop):
        statement = delete(model)
        if months is not None:
            statement = statement.where(model.month.in_(list(months)))
        await session.execute(statement)
    for shape, dims in SHAPES.items():
        cell = _cell_sql(dims)
        # PostgreSQL refuses a constant in GROUP BY: the whole ward groups by month alone.
        by = f"month, {cell}" if dims else "month"
        await session.execute(
            text(
                "INSERT INTO analytics_rollup_cells"
                " (shape, month, cell, payments, spend, points_used, rewards, residents)"
                f" SELECT '{shape}', month, {cell},"
                " SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END), SUM(amount),"
                " SUM(points_used), SUM(reward), COUNT(DISTINCT resident_key)"
                f" FROM analytics_facts{scope} GROUP BY {by}"
            )
        )
        await session.execute(
            text(
                "INSERT INTO analytics_rollup_members (shape, month, cell, resident_key)"
                f" SELECT DISTINCT '{shape}', month, {cell}, resident_key"
                f" FROM analytics_facts{scope}"
            )
        )
        await session.execute(
            text(
                "INSERT INTO analytics_rollup_shops (shape, month, cell, merchant_key, spend)"
                f" SELECT '{shape}', month, {cell}, merchant_key, SUM(amount)"
                f" FROM analytics_facts{scope} GROUP BY {by}, merchant_key"
            )
        )
        # The all-months rows span every month, so they are rebuilt from every fact.
        for model in (RollupCell, RollupMember, RollupShop):
            await session.execute(
                delete(model).where(model.shape == shape, model.month == ALL_MONTHS)
            )
        for sql in all_months_sql(shape, cell, bool(dims)):
            await session.execute(text(sql))


# The rollup tables and their primary keys, as migration 0010 made them.
_ROLLUP_KEYS = {
    "analytics_rollup_cells": ("shape", "month", "cell"),
    "analytics_rollup_members": ("shape", "month", "cell", "resident_key"),
    "analytics_rollup_shops": ("shape", "month", "cell", "merchant_key"),
}


def bulk_build_sql(shape: str, dims: tuple[str, ...]) -> list[str]:
    """One shape's rows, per month and over all months, in two scans of the facts: one
    for its members (monthly pseudonyms and all-time persons: two grouping sets of one
    pass), one for its sums per cell and shop (``_bulk_sums``, both partitions again).
    The residents of each cell are its members counted (``_bulk_people``), so no
    ``COUNT(DISTINCT …)`` sorts the facts once more."""
    # Grouped by the cell's text, as ``rebuild_rollups`` groups: the keys cannot differ.
    # PostgreSQL refuses a constant in GROUP BY: the whole ward has no cell to group by.
    cell = _cell_sql(dims)
    by = f"({cell}), " if dims else ""
    period = f"CASE GROUPING(month) WHEN 1 THEN '{ALL_MONTHS}' ELSE month END"
    return [
        "WITH members AS MATERIALIZED ("
        f" SELECT '{shape}' AS shape, {period} AS period, {cell} AS cell,"
        " CASE GROUPING(resident_key) WHEN 1 THEN person_key ELSE resident_key END AS member"
        " FROM analytics_facts GROUP BY GROUPING SETS"
        f" ((month, {by}resident_key), ({by}person_key))"
        "), stored AS ("
        " INSERT INTO analytics_rollup_members (shape, month, cell, resident_key)"
        " SELECT shape, period, cell, member FROM members"
        ") INSERT INTO _bulk_people (shape, month, cell, residents)"
        " SELECT shape, period, cell, COUNT(*) FROM members GROUP BY shape, period, cell",
        "INSERT INTO _bulk_sums"
        " (shape, month, cell, merchant_key, payments, spend, points_used, rewards)"
        f" SELECT '{shape}', {period}, {cell}, merchant_key,"
        " SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END), SUM(amount), SUM(points_used),"
        " SUM(reward) FROM analytics_facts"
        f" GROUP BY GROUPING SETS ((month, {by}merchant_key), ({by}merchant_key))",
    ]


async def build_all_rollups(session: AsyncSession) -> None:
    """Every rollup rebuilt from every fact, the bulk way: what ``rebuild_rollups(session)``
    makes, row for row, in a fraction of its time (a 10 M-payment history in minutes, not
    hours). For a bulk load with no consumer writing meanwhile (the synthetic history):
    the rollup tables are emptied and locked for the whole transaction.

    How: the tables are emptied, made unlogged and stripped of their primary keys, filled
    with one set-based statement per shape and table (hash aggregates, no index to keep
    up to date, no WAL), then made logged again and given their keys back (one sorted
    index build each)."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    # Hash aggregates of millions of groups: memory rather than spilling to disk.
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    await session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    tables = ", ".join(_ROLLUP_KEYS)
    await session.execute(text(f"TRUNCATE {tables}"))
    for table in _ROLLUP_KEYS:
        await session.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, SET UNLOGGED"))
    await session.execute(
        text(
            "CREATE TEMPORARY TABLE _bulk_people (shape text, month text, cell text,"
            " residents bigint) ON COMMIT DROP"
        )
    )
    await session.execute(
        text(
            "CREATE TEMPORARY TABLE _bulk_sums (shape text, month text, cell text,"
            " merchant_key text, payments bigint, spend bigint, points_used bigint,"
            " rewards bigint) ON COMMIT DROP"
        )
    )
    for shape, dims in SHAPES.items():
        for sql in bulk_build_sql(shape, dims):
            await session.execute(text(sql))
    await session.execute(
        text(
            "INSERT INTO analytics_rollup_shops (shape, month, cell, merchant_key, spend)"
            " SELECT shape, month, cell, merchant_key, spend FROM _bulk_sums"
        )
    )
    await session.execute(
        text(
            "INSERT INTO analytics_rollup_cells"
            " (shape, month, cell, payments, spend, points_used, rewards, residents)"
            " SELECT s.shape, s.month, s.cell, s.payments, s.spend, s.points_used, s.rewards,"
            " p.residents FROM ("
            " SELECT shape, month, cell, SUM(payments) AS payments, SUM(spend) AS spend,"
            " SUM(points_used) AS points_used, SUM(rewards) AS rewards FROM _bulk_sums"
            " GROUP BY shape, month, cell"
            ") AS s JOIN _bulk_people AS p USING (shape, month, cell)"
        )
    )
    for table, key in _ROLLUP_KEYS.items():
        # Logged first: SET LOGGED rewrites the table, and would rebuild a key built before.
        await session.execute(text(f"ALTER TABLE {table} SET LOGGED"))
        await session.execute(
            text(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)})")
        )
        await session.execute(text(f"ANALYZE {table}"))


def all_months_sql(shape: str, cell: str, has_dimensions: bool) -> list[str]:
    """The statements that fill one shape's all-months partition from every fact (its
    members are people: ``person_key``)."""
    # An aggregate without GROUP BY makes a row even of no facts: HAVING drops it.
    by = f" GROUP BY {cell}" if has_dimensions else " HAVING COUNT(*) > 0"
    every = f"{cell}, merchant_key" if has_dimensions else "merchant_key"
    return [
        "INSERT INTO analytics_rollup_cells"
        " (shape, month, cell, payments, spend, points_used, rewards, residents)"
        f" SELECT '{shape}', '{ALL_MONTHS}', {cell},"
        " SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END), SUM(amount),"
        " SUM(points_used), SUM(reward), COUNT(DISTINCT person_key)"
        f" FROM analytics_facts{by}",
        "INSERT INTO analytics_rollup_members (shape, month, cell, resident_key)"
        f" SELECT DISTINCT '{shape}', '{ALL_MONTHS}', {cell}, person_key FROM analytics_facts",
        "INSERT INTO analytics_rollup_shops (shape, month, cell, merchant_key, spend)"
        f" SELECT '{shape}', '{ALL_MONTHS}', {cell}, merchant_key, SUM(amount)"
        f" FROM analytics_facts GROUP BY {every}",
    ]


async def persons_by_cell(
    session: AsyncSession, dimensions: tuple[str, ...], filters: Mapping[str, list[Any]]
) -> dict[tuple[Any, ...], int]:
    """Distinct people per cell over every month the filters keep, from the facts."""
    columns = [DIMENSIONS[d] for d in dimensions]
    rows = await session.execute(
        select(*columns, func.count(func.distinct(Fact.person_key)))
        .where(*(DIMENSIONS[name].in_(values) for name, values in filters.items()))
        .group_by(*columns)
    )
    return {tuple(row[:-1]): int(row[-1]) for row in rows}
