"""DP mode from request to answer: charge and log first, in a transaction of their own,
then read the data.

The ε charge and the query's log row are committed before a single fact is read, on a
session of their own. Whatever happens afterwards (the facts cannot be read, OpenDP fails,
the request's unit of work rolls back), the ε stays spent and the query stays logged, as
``"charged"``; it is marked ``"answered"`` once the answer is ready. Otherwise a failing
query would be a free, unaudited look at the data.

Every step runs on short sessions of its own (charge and log; read the facts; mark the
log), none held open while OpenDP computes: the request's session is left untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics import dp_budget, dp_pool
from analytics.models import QueryLog
from machipay.settings import Settings
from machipay.timeutil import utcnow

if TYPE_CHECKING:
    from analytics.query import Answer, Query


async def _charge_and_log(
    session: AsyncSession,
    settings: Settings,
    query: Query,
    *,
    analyst_id: int,
    epsilon: float,
    months: list[str],
) -> tuple[int, float]:
    """Spend ε from every month read and log the query, in one transaction; returns the
    log row's id and the least ε left in those months."""
    remaining = await dp_budget.charge(
        session, months, epsilon=epsilon, total=settings.analytics_dp_epsilon_per_data_month
    )
    entry = QueryLog(
        analyst_id=analyst_id,
        asked_at=utcnow(),
        query={**query.as_dict(), "months_read": months},
        outcome="charged",
        cells=0,
        suppressed=0,
        epsilon=epsilon,
    )
    session.add(entry)
    await session.flush()
    return entry.id, remaining


async def answer_with_dp(
    session: AsyncSession, settings: Settings, query: Query, *, analyst_id: int
) -> Answer:
    """DP mode: no differencing guard (noise protects every answer), but each one costs ε
    from every data month it reads. ``session`` (the request's) only lends its engine: the
    charge commits in a transaction of its own before any data is read."""
    from analytics.query import Answer  # query.py dispatches here: import when called

    epsilon = query.epsilon or settings.analytics_dp_default_epsilon
    # OpenDP and Polars load on the first DP query, not into every API process.
    from analytics import dp

    months = dp_budget.months_read(query.filters, dp_budget.months_window(settings))
    sessions = async_sessionmaker(session.bind, expire_on_commit=False, autoflush=False)
    # A place on the DP pool first: a busy pool turns the query away before its ε is spent.
    with dp_pool.admitted(settings):
        async with sessions.begin() as own:
            # Reference data only (streets, districts…): a refusal here costs no ε.
            keys = await dp.public_keys(own, query.dimensions, query.filters)
            log_id, remaining = await _charge_and_log(
                own, settings, query, analyst_id=analyst_id, epsilon=epsilon, months=months
            )
        answer = await dp.dp_answer(
            sessions,
            settings,
            dimensions=query.dimensions,
            keys=keys,
            filters=query.filters,
            measures=query.measures,
            epsilon=epsilon,
            months=months,
        )
        async with sessions.begin() as own:
            await own.execute(
                update(QueryLog)
                .where(QueryLog.id == log_id)
                .values(outcome="answered", cells=len(answer.rows))
            )
    return Answer(
        rows=answer.rows,
        suppressed=0,
        mode="dp",
        epsilon_spent=epsilon,
        epsilon_remaining=remaining,
    )
