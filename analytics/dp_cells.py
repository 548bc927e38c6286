"""DP mode's cells: the facts pre-summed per pseudonym, month and fine cell, so a DP query
sums a few rows per person instead of every payment (``analytics.dp``).

A row of ``analytics_dp_cells`` holds one pseudonym's facts in one month with the
pseudonym's age band and home district, and either one street and store type or one ISO week
(every fact is in one row of each kind): how many facts and payments, and the sums of
amount, points used and reward with *each fact clamped to ±amount_cap first*, by the SQL
function a query reading the facts clamps with too (``analytics_clamp``, in
``analytics/sql/``: refunds clamp to -amount_cap). DP mode's truncation (counts up to
``payments_per_cell``, sums bounded to that many payments of ±``amount_cap``, at most
``cells_per_resident`` cells) only ever needs a cell's count and the sum of its clamped
amounts, and sums add up: summing these rows per pseudonym and query cell gives exactly what
summing the clamped facts gives. A query whose dimensions and filters are all carried by one
kind of row reads those rows (``rows_for``); any other (category, campaign, weekday, hour,
or week with a street) reads the facts, as before.

The per-fact clamp makes the sums depend on the cap. The table records the cap it was
built with (``analytics_dp_cells_cap``); a query whose cap differs (the setting was
changed) reads the facts until ``build_dp_cells`` has rebuilt the table with the new one
(``machipay rebuild-dp-cells``). The consumer adds each batch's facts in the same
transaction as the facts themselves (``add_to_dp_cells``: one upsert, clamped with the
recorded cap), so the table is never ahead of or behind the facts it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.models import DpCell, DpCellsCap

# The dimensions each kind of row carries, as read back: a street of 0 is a shop on no
# street. A fact is summed into one row of each: by street and store type, and by week.
BY_PLACE: dict[str, Any] = {
    "month": DpCell.month,
    "age_band": DpCell.age_band,
    "district": DpCell.district_id,
    # A literal, not a parameter: the same expression must be selected and grouped by.
    "shopping_street": func.nullif(
        DpCell.shopping_street_id, literal_column("0"), type_=BigInteger
    ),
    "store_type": DpCell.store_type,
}
BY_WEEK: dict[str, Any] = {
    "month": DpCell.month,
    "age_band": DpCell.age_band,
    "district": DpCell.district_id,
    "week": DpCell.week,
}
# Which rows are which (a week-row has a week, a place-row none) and what each carries.
KINDS: dict[str, tuple[dict[str, Any], Any]] = {
    "place": (BY_PLACE, DpCell.week == ""),
    "week": (BY_WEEK, DpCell.week != ""),
}
_KEY = "month, week, resident_key, age_band, district_id, shopping_street_id, store_type"
_SUMMED = "facts, payments, amount, points_used, reward"


def rows_for(dimensions: Iterable[str], filters: Iterable[str]) -> str | None:
    """The kind of row that can answer a query (``KINDS``): one carrying every dimension
    it breaks down and filters by; None: only the facts can."""
    named = set(dimensions) | set(filters)
    return next((kind for kind, (columns, _) in KINDS.items() if named <= columns.keys()), None)


async def built_with(session: AsyncSession, amount_cap: int) -> bool:
    """Whether the table holds every fact clamped with ``amount_cap``. The row is share-locked
    until the reader's transaction ends, so a rebuild cannot change the table under the
    read; while a rebuild holds it, the answer is no (read the facts) rather than a wait."""
    cap = await session.scalar(
        select(DpCellsCap.amount_cap).with_for_update(read=True, skip_locked=True)
    )
    return cap == amount_cap


def _from_facts(source: str) -> str:
    """The rows of ``source`` (a relation with the facts' columns), clamped with the
    recorded cap: no cap recorded, no rows. One pass makes both kinds of row."""
    by_week = "GROUPING(f.week) WHEN 0"
    return (
        f"SELECT f.month, CASE {by_week} THEN f.week ELSE '' END,"
        " f.resident_key, f.age_band, f.district_id,"
        f" CASE {by_week} THEN -1 ELSE COALESCE(f.shopping_street_id, 0) END,"
        f" CASE {by_week} THEN '' ELSE f.store_type END,"
        " COUNT(*), COUNT(*) FILTER (WHERE f.kind = 'payment'),"
        " SUM(analytics_clamp(f.amount, c.amount_cap)),"
        " SUM(analytics_clamp(f.points_used, c.amount_cap)),"
        " SUM(analytics_clamp(f.reward, c.amount_cap))"
        f" FROM {source} CROSS JOIN analytics_dp_cells_cap AS c"
        " GROUP BY f.month, f.resident_key, f.age_band, f.district_id, GROUPING SETS"
        " ((COALESCE(f.shopping_street_id, 0), f.store_type), (f.week))"
        # Rows in key order: two consumers upserting the same cells lock them in one order.
        " ORDER BY 1, 2, 3, 4, 5, 6, 7"
    )


_FACT_FIELDS: tuple[tuple[str, str], ...] = (
    ("month", "text"),
    ("resident_key", "text"),
    ("age_band", "text"),
    ("district_id", "text"),
    ("shopping_street_id", "bigint"),
    ("store_type", "text"),
    ("week", "text"),
    ("kind", "text"),
    ("amount", "bigint"),
    ("points_used", "bigint"),
    ("reward", "bigint"),
)
_ADD = text(
    f"INSERT INTO analytics_dp_cells AS d ({_KEY}, {_SUMMED}) "
    + _from_facts(
        "unnest("
        + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _FACT_FIELDS)
        + ") AS f("
        + ", ".join(name for name, _ in _FACT_FIELDS)
        + ")"
    )
    + f" ON CONFLICT ({_KEY}) DO UPDATE SET "
    + ", ".join(f"{name} = d.{name} + excluded.{name}" for name in _SUMMED.split(", "))
)


async def add_to_dp_cells(session: AsyncSession, facts: Sequence[Mapping[str, Any]]) -> None:
    """Fold newly stored facts into the table: one statement for the whole batch (call once
    per fact: not idempotent)."""
    if not facts:
        return
    await session.execute(_ADD, {name: [fact[name] for fact in facts] for name, _ in _FACT_FIELDS})


async def build_dp_cells(session: AsyncSession, amount_cap: int) -> None:
    """Rebuild the table from every fact, clamped with ``amount_cap``: after a bulk load of
    facts (the synthetic history) or a change of ``analytics_dp_amount_cap``."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    # The consumer's upserts wait until this commits (a fact is summed by the rebuild or by
    # the consumer, never both); readers holding the cap row finish first, later ones read
    # the facts meanwhile (``built_with``).
    await session.execute(text("LOCK TABLE analytics_dp_cells IN EXCLUSIVE MODE"))
    await session.execute(
        text(
            "INSERT INTO analytics_dp_cells_cap (id, amount_cap) VALUES (1, :cap)"
            " ON CONFLICT (id) DO UPDATE SET amount_cap = excluded.amount_cap"
        ),
        {"cap": amount_cap},
    )
    await session.execute(text("TRUNCATE analytics_dp_cells"))
    every_fact = _from_facts("analytics_facts AS f")
    await session.execute(text(f"INSERT INTO analytics_dp_cells ({_KEY}, {_SUMMED}) {every_fact}"))
    await session.execute(text("ANALYZE analytics_dp_cells"))
