"""Differentially private answers (query mode ``"dp"``), with OpenDP's Polars API.

The privacy unit is one resident. Facts know a resident only by a pseudonym that changes
every month, so a person is up to M pseudonyms in a query spanning M months; every bound
below is multiplied by M, the number of months the query's filters let it read
(``analytics.dp_budget.months_read``), never the number of months found in the data.
Before OpenDP sees the rows, each pseudonym is truncated to at
most ``max_payments_per_cell`` rows per cell and ``max_cells_per_resident`` cells, and
amounts are clamped to ``±amount_cap`` yen (refunds are negative). OpenDP then calibrates
Laplace noise to those bounds and the query's ε, and reports each measure's 95 % error
band (``summarize(alpha=0.05)``), returned with every value.

Cells: when every dimension has a key set known without looking at the data (streets,
districts, categories, store types, age bands, weekday, hour, and month/week/campaign when
the query lists their values), every cell is released, empty or not. Otherwise a cell is
released only if its noisy row count clears OpenDP's threshold (δ = ``analytics_dp_delta``),
so an open-ended key never reveals that one person exists.

Every bound is fixed before a row is read, and an empty frame is released like any other
(noisy values for listed keys, nothing for open-ended ones): whether anyone matches must
not change the shape of the answer, its error bands, or whether it fails. The ε charge and
the query log are committed before this module reads anything (``analytics.dp_mode``).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass
from typing import Any

import opendp.prelude as dp
import polars as pl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics.dimensions import AGE_BANDS, INTEGER_DIMENSIONS
from analytics.models import Fact
from machipay.errors import ValidationFailed
from machipay.settings import Settings
from merchant_api import STORE_TYPES
from ward import list_categories, list_districts, list_shopping_streets

dp.enable_features("contrib")

MAX_PUBLIC_CELLS = 50_000
# Measures and the fact column each sums (payments: a 0/1 column, so refunds don't count).
SUMS = {
    "payments": "is_payment",
    "spend": "amount",
    "points_used": "points_used",
    "rewards": "reward",
}


@dataclass(frozen=True, slots=True)
class Bounds:
    """One resident's largest possible influence, from settings and the query's filters."""

    payments_per_cell: int
    cells_per_resident: int
    amount_cap: int
    delta: float
    months: int  # the data months the query reads: a resident is a pseudonym in each
    max_rows: int

    @classmethod
    def of(cls, settings: Settings, months: int) -> Bounds:
        return cls(
            payments_per_cell=settings.analytics_dp_max_payments_per_cell,
            cells_per_resident=settings.analytics_dp_max_cells_per_resident,
            amount_cap=settings.analytics_dp_amount_cap,
            delta=settings.analytics_dp_delta,
            months=months,
            max_rows=settings.analytics_dp_max_rows,
        )


@dataclass(frozen=True, slots=True)
class DpAnswer:
    rows: list[dict[str, Any]]
    epsilon: float
    thresholded: bool


async def public_keys(
    session: AsyncSession, dimensions: tuple[str, ...], filters: dict[str, list[Any]]
) -> pl.DataFrame | None:
    """Every cell the query could have, from reference data and its filters; None when a
    dimension's keys can only be learnt from the data (then cells are thresholded)."""
    domains: list[list[Any]] = []
    for name in dimensions:
        if name in filters:
            values: list[Any] = sorted(set(filters[name]))
        elif name == "shopping_street":
            values = [s.id for s in await list_shopping_streets(session)]
        elif name == "district":
            values = [d.id for d in await list_districts(session)]
        elif name == "category":
            values = [c.code for c in await list_categories(session)]
        elif name == "store_type":
            values = list(STORE_TYPES)
        elif name == "age_band":
            values = list(AGE_BANDS)
        elif name == "weekday":
            values = list(range(1, 8))
        elif name == "hour":
            values = list(range(24))
        else:  # month, week, campaign without a list of values: open-ended
            return None
        domains.append(values)
    if math.prod(len(d) for d in domains) > MAX_PUBLIC_CELLS:
        raise ValidationFailed(
            f"More than {MAX_PUBLIC_CELLS} cells: add filters or fewer dimensions.",
            field="dimensions",
        )
    return pl.DataFrame(list(itertools.product(*domains)), schema=list(dimensions), orient="row")


async def _facts(
    session: AsyncSession,
    columns: dict[str, Any],
    conditions: list[Any],
    max_rows: int,
) -> pl.DataFrame:
    names = list(columns)
    selected = [
        *columns.values(),
        Fact.period,
        Fact.resident_key,
        Fact.kind,
        Fact.amount,
        Fact.points_used,
        Fact.reward,
    ]
    result = await session.execute(select(*selected).where(*conditions).limit(max_rows + 1))
    rows = result.all()
    if len(rows) > max_rows:
        raise ValidationFailed(
            f"DP mode reads at most {max_rows} facts per query; narrow the filters.",
            field="filters",
        )
    # Types from the columns, not from the rows: a frame with no row must work the same.
    schema: dict[str, Any] = {
        name: pl.Int64 if name in INTEGER_DIMENSIONS else pl.String for name in names
    }
    schema.update(
        period=pl.String,
        resident_key=pl.String,
        kind=pl.String,
        amount=pl.Int64,
        points_used=pl.Int64,
        reward=pl.Int64,
    )
    frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    return frame.with_columns(
        (pl.col("kind") == "payment").cast(pl.Int64).alias("is_payment"),
        pl.col("amount", "points_used", "reward").cast(pl.Int64),
    ).drop("kind")


def _truncate(frame: pl.DataFrame, dims: list[str], bounds: Bounds, seed: int) -> pl.DataFrame:
    """At most ``payments_per_cell`` rows per pseudonym and cell (a random sample), and at
    most ``cells_per_resident`` cells per pseudonym: a function of each person's own rows."""
    by = ["resident_key", *dims]
    frame = frame.filter(
        pl.int_range(pl.len()).shuffle(seed=seed).over(by) < bounds.payments_per_cell
    )
    if dims:
        rank = pl.struct(dims).rank("dense").over("resident_key")
        frame = frame.filter(rank <= bounds.cells_per_resident)
    return frame


def _release(
    frame: pl.DataFrame,
    dims: list[str],
    measures: tuple[str, ...],
    keys: pl.DataFrame | None,
    epsilon: float,
    bounds: Bounds,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """The noisy cells and each measure's 95 % error band (CPU-bound; run in a thread)."""
    months = bounds.months
    cap = bounds.amount_cap
    per_cell = months * bounds.payments_per_cell
    cells = months * (bounds.cells_per_resident if dims else 1)
    # An average ticket is spend ÷ payments: both are released to compute it.
    ratio = ("spend", "payments") if "average_ticket" in measures else ()
    sums = [m for m in SUMS if m in measures or m in ratio]
    wants_residents = "residents" in measures
    shares = len(sums) + (1 if wants_residents else 0) + (1 if keys is None else 0)
    errors: dict[str, float] = {}
    contributions = [dp.polars.Bound(by=[], per_group=per_cell * cells)]
    if dims:
        contributions.append(dp.polars.Bound(by=dims, per_group=per_cell, num_groups=cells))
    margins = [dp.polars.Margin(by=[], max_length=bounds.max_rows)]

    def query(data: pl.DataFrame, weight: float, unit: list[Any]) -> Any:
        context = dp.Context.compositor(
            data=data.lazy(),
            privacy_unit=dp.unit_of(contributions=unit),
            # Open-ended keys need δ: a cell is released only past a noisy threshold.
            privacy_loss=dp.loss_of(
                epsilon=epsilon * weight, delta=None if keys is not None else bounds.delta
            ),
            split_evenly_over=1,
            margins=margins,
        )
        return context.query()

    main_weight = (shares - (1 if wants_residents else 0)) / shares
    aggregates: list[Any] = []
    if keys is None:
        aggregates.append(pl.len().dp.noise().alias("_rows"))
    for measure in sums:
        low = 0 if measure == "payments" else -cap
        high = 1 if measure == "payments" else cap
        aggregates.append(pl.col(SUMS[measure]).fill_null(0).dp.sum((low, high)).alias(measure))
    main = query(frame, main_weight, contributions)
    grouped = main.group_by(dims).agg(*aggregates) if dims else main.select(*aggregates)
    if keys is not None and dims:
        grouped = grouped.with_keys(keys.lazy())
    summary = grouped.summarize(alpha=0.05)
    for column, accuracy in zip(summary["column"], summary["accuracy"], strict=True):
        errors[str(column)] = float(accuracy)
    released = grouped.release().collect()

    if wants_residents:
        people = frame.select([*dims, "period", "resident_key"]).unique()
        unit = [dp.polars.Bound(by=[], per_group=cells)]
        if dims:
            unit.append(dp.polars.Bound(by=dims, per_group=months, num_groups=cells))
        counted = query(people, 1 - main_weight, unit)
        count = pl.len().dp.noise().alias("residents")
        people_query = counted.group_by(dims).agg(count) if dims else counted.select(count)
        if keys is not None and dims:
            people_query = people_query.with_keys(keys.lazy())
        summary = people_query.summarize(alpha=0.05)
        errors["residents"] = float(summary["accuracy"][0])
        residents = people_query.release().collect()
        released = (
            released.join(residents, on=dims, how="left")
            if dims
            else pl.concat([released, residents], how="horizontal")
        )
    return released, errors


async def dp_answer(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    dimensions: tuple[str, ...],
    columns: dict[str, Any],
    keys: pl.DataFrame | None,
    conditions: list[Any],
    measures: tuple[str, ...],
    epsilon: float,
    months: list[str],
    seed: int,
) -> DpAnswer:
    """Noisy cells of facts of ``months`` only: the months the budget was charged for.
    The facts are read in a short transaction of their own, closed before OpenDP runs: the
    noise can take longer than a database lets a transaction sit idle."""
    bounds = Bounds.of(settings, len(months))
    dims = list(dimensions)
    conditions = [*conditions, Fact.month.in_(months)]
    async with sessions() as session:
        frame = await _facts(session, columns, conditions, bounds.max_rows)
    frame = _truncate(frame, dims, bounds, seed)
    released, errors = await asyncio.to_thread(
        _release, frame, dims, measures, keys, epsilon, bounds
    )
    rows: list[dict[str, Any]] = []
    for record in (
        released.sort(dims).iter_rows(named=True) if dims else released.iter_rows(named=True)
    ):
        out: dict[str, Any] = {d: record[d] for d in dims}
        payments = max(0, int(record.get("payments") or 0))
        spend = int(record.get("spend") or 0)
        values: dict[str, Any] = {
            "payments": payments,
            "spend": spend,
            "points_used": int(record.get("points_used") or 0),
            "rewards": int(record.get("rewards") or 0),
            "residents": max(0, int(record.get("residents") or 0)),
        }
        band = dict(errors)
        if "average_ticket" in measures:
            # Post-processing of two noisy sums; its band is a first-order approximation.
            values["average_ticket"] = round(spend / payments) if payments else None
            band["average_ticket"] = (
                (errors["spend"] + abs(spend / payments) * errors["payments"]) / payments
                if payments
                else math.inf
            )
        for measure in measures:
            out[measure] = values[measure]
        out["errors"] = {
            m: (round(band[m], 1) if math.isfinite(band[m]) else None) for m in measures
        }
        out["suppressed"] = False
        rows.append(out)
    return DpAnswer(rows=rows, epsilon=epsilon, thresholded=keys is None)
