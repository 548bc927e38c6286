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

import functools
import io
import itertools
import math
from dataclasses import dataclass
from typing import Any

import opendp.prelude as dp
import polars as pl
from opendp.accuracy import summarize_polars_measurement
from sqlalchemy import BigInteger, Float, case, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import dp_cells, dp_pool
from analytics.dimensions import AGE_BANDS, DIMENSIONS, INTEGER_DIMENSIONS
from analytics.models import DpCell, Fact
from machipay.errors import ValidationFailed
from machipay.settings import Settings
from merchant_api import STORE_TYPES
from ward import list_categories, list_districts, list_shopping_streets

dp.enable_features("contrib")

MAX_PUBLIC_CELLS = 50_000
FACT_MEASURES = ("amount", "points_used", "reward")
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


@dataclass(frozen=True, slots=True, eq=False)
class _Source:
    """Where a DP query's rows come from: the facts, or ``analytics_dp_cells`` (the same
    facts pre-summed per pseudonym and fine cell, each amount clamped before its sum)."""

    columns: dict[str, Any]  # dimension -> column
    table: Any
    rows: list[Any]  # which of its rows
    person: Any
    facts_read: Any  # an aggregate: the facts behind the rows matched (the row limit)
    payments: Any  # per row: payments it counts
    clamped_sums: dict[str, Any]  # measure column -> its sum, every fact clamped to ±cap


def _facts_source(cap: int) -> _Source:
    def clamped_sum(column: Any) -> Any:
        # The cells' rule too (analytics/sql/analytics_clamp.sql): both sources sum the same.
        return func.sum(func.analytics_clamp(column, cap, type_=BigInteger))

    return _Source(
        columns=DIMENSIONS,
        table=Fact,
        rows=[],
        person=Fact.resident_key,
        facts_read=func.count(),
        payments=case((Fact.kind == "payment", 1), else_=0),
        clamped_sums={
            "amount": clamped_sum(Fact.amount),
            "points_used": clamped_sum(Fact.points_used),
            "reward": clamped_sum(Fact.reward),
        },
    )


def _float_sum(column: Any) -> Any:
    # A sum of bigints is a numeric (a state allocated per group, numeric arithmetic after);
    # a sum of float8 is one machine number, exact for whole numbers below 2^53 yen: a
    # pseudonym's month of clamped amounts is many orders of magnitude short of that.
    return func.sum(cast(column, Float))


def _cells_source(columns: dict[str, Any], rows: Any) -> _Source:
    return _Source(
        columns=columns,
        table=DpCell,
        rows=[rows],
        person=DpCell.resident_key,
        facts_read=func.coalesce(func.sum(DpCell.facts), 0),
        payments=DpCell.payments,
        clamped_sums={
            "amount": _float_sum(DpCell.amount),
            "points_used": _float_sum(DpCell.points_used),
            "reward": _float_sum(DpCell.reward),
        },
    )


_CELLS = {kind: _cells_source(*carried) for kind, carried in dp_cells.KINDS.items()}


def _conditions(source: _Source, filters: dict[str, list[Any]], months: list[str]) -> list[Any]:
    conditions = [*source.rows]
    conditions += [source.columns[name].in_(values) for name, values in filters.items()]
    conditions.append(source.columns["month"].in_(months))
    return conditions


def _truncated(
    source: _Source,
    dimensions: list[str],
    filters: dict[str, list[Any]],
    months: list[str],
    bounds: Bounds,
    summed: tuple[str, ...] = FACT_MEASURES,
) -> Any:
    """The facts OpenDP may see, summed and bounded in the database: one row per pseudonym
    and cell, its payments counted up to ``payments_per_cell`` and each sum clamped to
    that many payments of ±``amount_cap`` yen (every payment clamped first), and at most
    ``cells_per_resident`` cells per pseudonym (its first in key order). Each row is a
    function of one person's own facts; OpenDP gets a few columns of numbers per person
    and cell instead of every payment with its keys."""
    columns = {name: source.columns[name] for name in dimensions}
    dims = list(columns.values())
    # Bytewise: the pseudonyms' order means nothing, and locale-aware sorting costs.
    person = source.person.collate("C")
    most = bounds.payments_per_cell * bounds.amount_cap

    def bounded(measure: str) -> Any:
        total = source.clamped_sums[measure]
        return cast(func.greatest(func.least(total, most), -most), BigInteger)

    cell_rank = func.dense_rank().over(partition_by=person, order_by=dims) if dims else literal(1)
    inner = (
        select(
            *(column.label(name) for name, column in columns.items()),
            func.least(func.sum(source.payments), bounds.payments_per_cell).label("is_payment"),
            *(bounded(measure).label(measure) for measure in summed),
            cell_rank.label("_c"),
        )
        .where(*_conditions(source, filters, months))
        .group_by(person, *dims)
        .subquery()
    )
    names = [*columns, "is_payment", *summed]
    return select(*(inner.c[name] for name in names)).where(
        inner.c["_c"] <= bounds.cells_per_resident
    )


async def _source(
    session: AsyncSession, dimensions: list[str], filters: dict[str, list[Any]], bounds: Bounds
) -> _Source:
    """The DP cells when they can answer (the query's keys are among theirs, and they were
    clamped with this cap), else the facts: the same rows either way."""
    kind = dp_cells.rows_for(dimensions, filters)
    if kind is not None and await dp_cells.built_with(session, bounds.amount_cap):
        return _CELLS[kind]
    return _facts_source(bounds.amount_cap)


async def facts_matched(
    session: AsyncSession, source: _Source, filters: dict[str, list[Any]], months: list[str]
) -> int:
    """How many facts a query matches (the row limit), from the rows it will read."""
    counted = select(source.facts_read).select_from(source.table)
    return int(await session.scalar(counted.where(*_conditions(source, filters, months))) or 0)


async def truncated_csv(
    session: AsyncSession,
    dimensions: list[str],
    filters: dict[str, list[Any]],
    months: list[str],
    bounds: Bounds,
    *,
    summed: tuple[str, ...] = FACT_MEASURES,
    source: _Source | None = None,
) -> bytes:
    """The truncated rows as CSV straight from PostgreSQL's COPY: parsed by Polars in
    native code, never turned into Python objects one value at a time. A query matching
    more than ``max_rows`` facts is refused before they are read."""
    if source is None:
        source = await _source(session, dimensions, filters, bounds)
    if await facts_matched(session, source, filters, months) > bounds.max_rows:
        raise ValidationFailed(
            f"DP mode reads at most {bounds.max_rows} facts per query; narrow the filters.",
            field="filters",
        )
    connection = await session.connection()
    # Nearly one group per row read: sorted once in memory (not hashed, then spilled and
    # sorted again for the cell rank); no JIT compilation for a statement run once; one
    # core, never the payments' other one (parallel workers were slower on a busy host).
    await session.execute(
        text(
            "SELECT set_config('work_mem', '256MB', true),"
            " set_config('enable_hashagg', 'off', true), set_config('jit', 'off', true),"
            " set_config('max_parallel_workers_per_gather', '0', true)"
        )
    )
    compiled = _truncated(source, dimensions, filters, months, bounds, summed).compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    arguments = [compiled.params[name] for name in compiled.positiontup or ()]
    raw = (await connection.get_raw_connection()).driver_connection
    out = io.BytesIO()
    await raw.copy_from_query(  # type: ignore[union-attr]
        str(compiled), *arguments, output=out, format="csv", header=True
    )
    return out.getvalue()


def summed_for(measures: tuple[str, ...]) -> tuple[str, ...]:
    """The sums a query's measures need (the payments' count is always read): the others
    are not computed, sorted or sent, as OpenDP would not be given them anyway."""
    # An average ticket is spend ÷ payments: both are released to compute it.
    ratio = ("spend", "payments") if "average_ticket" in measures else ()
    return tuple(SUMS[m] for m in SUMS if (m in measures or m in ratio) and m != "payments")


def _frame(
    csv: bytes, names: list[str], max_rows: int, summed: tuple[str, ...] = FACT_MEASURES
) -> pl.DataFrame:
    # Types from the columns, not from the rows: a frame with no row must work the same.
    schema: dict[str, Any] = {
        name: pl.Int64 if name in INTEGER_DIMENSIONS else pl.String for name in names
    }
    schema.update(dict.fromkeys(("is_payment", *summed), pl.Int64))
    frame = pl.read_csv(io.BytesIO(csv), schema=schema, has_header=True)
    # The facts were counted before the read (``truncated_csv``), in a statement of their
    # own: the rows, fewer than the facts, are held to the bound OpenDP is promised too.
    if frame.height > max_rows:
        raise ValidationFailed(
            f"DP mode reads at most {max_rows} facts per query; narrow the filters.",
            field="filters",
        )
    return frame


def _measurement(query: Any) -> Any:
    """The query's measurement, as ``query.resolve()`` makes it, without its search.

    OpenDP finds the noise scale by bisection, compiling the whole query each step: about
    a thousand compilations, seconds of CPU on every query, whatever the data. The privacy
    loss of Laplace noise is inversely proportional to its scale, so one compilation at
    scale 1 gives the scale that spends exactly the query's ε; OpenDP's own privacy map
    then checks the measurement, and if rounding leaves it a hair over the budget the
    scale is nudged up (or the full search runs): never a looser guarantee than
    ``resolve()``'s."""
    plan = object.__getattribute__(query, "polars_plan")
    inner = object.__getattribute__(query, "_query")
    domain, metric = inner._chain
    d_in, d_out = inner._d_in, inner._d_out
    approximate = isinstance(d_out, tuple)

    def make(scale: float, threshold: int | None = None) -> Any:
        return dp.m.make_private_lazyframe(
            input_domain=domain,
            input_metric=metric,
            output_measure=inner._output_measure,
            lazyframe=plan,
            global_scale=scale,
            threshold=threshold,
        )

    never = 2**32 - 1  # no threshold yet: the scale alone is solved first, as OpenDP does
    loss = make(1.0, never if approximate else None).map(d_in)
    epsilon = float(d_out[0] if approximate else d_out)
    scale = float(loss[0] if approximate else loss) / epsilon
    for _ in range(4):
        scale *= 1 + 1e-9
        if approximate:

            def small_enough(threshold: int, scale: float = scale) -> bool:
                return bool(make(scale, threshold).map(d_in)[1] < d_out[1])

            search: Any = dp.binary_search  # typed for floats; it searches integers too
            measurement = make(scale, int(search(small_enough, T=int)))
        else:
            measurement = make(scale)
        if measurement.check(d_in, d_out):
            return measurement
        scale *= 1 + 1e-6
    return query.resolve()


def _release(
    frame: pl.DataFrame,
    dims: list[str],
    measures: tuple[str, ...],
    keys: pl.DataFrame | None,
    epsilon: float,
    bounds: Bounds,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """The noisy cells and each measure's 95 % error band (CPU-bound: on the DP pool).

    ``frame`` has one row per pseudonym and cell (``_truncated``): a person is at most
    ``months`` rows of a cell and ``months × cells_per_resident`` rows in all, each row's
    sums bounded by ``payments_per_cell`` payments of at most ``amount_cap`` yen. One
    measurement releases every measure (one compilation, the data handed to OpenDP once);
    its ε is the query's."""
    months = bounds.months
    per_cell = bounds.payments_per_cell
    cap = per_cell * bounds.amount_cap
    cells = months * (bounds.cells_per_resident if dims else 1)
    # An average ticket is spend ÷ payments: both are released to compute it.
    ratio = ("spend", "payments") if "average_ticket" in measures else ()
    sums = [m for m in SUMS if m in measures or m in ratio]
    contributions = [dp.polars.Bound(by=[], per_group=cells)]
    if dims:
        contributions.append(dp.polars.Bound(by=dims, per_group=months, num_groups=cells))
    # OpenDP copies the frame it is given across its FFI, value by value: only the columns
    # the measures read.
    frame = frame.select(*dims, *(SUMS[m] for m in sums))
    context = dp.Context.compositor(
        data=frame.lazy(),
        privacy_unit=dp.unit_of(contributions=contributions),
        # Open-ended keys need δ: a cell is released only past a noisy threshold.
        privacy_loss=dp.loss_of(epsilon=epsilon, delta=None if keys is not None else bounds.delta),
        split_evenly_over=1,
        margins=[dp.polars.Margin(by=[], max_length=bounds.max_rows)],
    )
    # A row is one pseudonym in one cell: the rows of a cell are its residents (per month).
    counted = "residents" in measures or keys is None
    aggregates: list[Any] = []
    if counted:
        aggregates.append(pl.len().dp.noise().alias("residents"))
    for measure in sums:
        low, high = (0, per_cell) if measure == "payments" else (-cap, cap)
        aggregates.append(pl.col(SUMS[measure]).fill_null(0).dp.sum((low, high)).alias(measure))
    main = context.query()
    grouped = main.group_by(dims).agg(*aggregates) if dims else main.select(*aggregates)
    if keys is not None and dims:
        grouped = grouped.with_keys(keys.lazy())
    measurement = _measurement(grouped)
    summary = summarize_polars_measurement(measurement, alpha=0.05)
    errors: dict[str, float] = {}
    for column, accuracy in zip(summary["column"], summary["accuracy"], strict=True):
        errors[str(column)] = float(accuracy)
    released = context(measurement).collect()
    return released, errors


async def dp_answer(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    dimensions: tuple[str, ...],
    keys: pl.DataFrame | None,
    filters: dict[str, list[Any]],
    measures: tuple[str, ...],
    epsilon: float,
    months: list[str],
) -> DpAnswer:
    """Noisy cells of facts of ``months`` only: the months the budget was charged for.
    The facts are read in a short transaction of their own, closed before OpenDP runs: the
    noise can take longer than a database lets a transaction sit idle. Everything after
    the read runs on the DP pool (``analytics.dp_pool``), off the event loop."""
    bounds = Bounds.of(settings, len(months))
    async with sessions() as session:
        csv = await truncated_csv(
            session, list(dimensions), filters, months, bounds, summed=summed_for(measures)
        )
    return await dp_pool.compute(
        settings,
        functools.partial(_answer, csv, list(dimensions), measures, keys, epsilon, bounds),
    )


def _answer(
    csv: bytes,
    dims: list[str],
    measures: tuple[str, ...],
    keys: pl.DataFrame | None,
    epsilon: float,
    bounds: Bounds,
) -> DpAnswer:
    frame = _frame(csv, dims, bounds.max_rows, summed_for(measures))
    released, errors = _release(frame, dims, measures, keys, epsilon, bounds)
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
