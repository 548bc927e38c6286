"""Analysts' HTTP API (API.md: Analytics). Other roles get 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from analytics.dp import budget_period, epsilon_spent
from analytics.query import Query, run_query
from analytics.schemas import BudgetOut, QueryIn, QueryOut
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, DbSession
from machipay.ratelimits import limit_analytics_queries

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Analyst = Annotated[AccessClaims, Depends(require_roles(Role.ANALYST))]


@router.post("/query", response_model=QueryOut, dependencies=[Depends(limit_analytics_queries)])
async def query(
    body: QueryIn, caller: Analyst, session: DbSession, settings: AppSettings
) -> QueryOut:
    """Spend, payments, distinct residents… by street, district, category, age band, time;
    every cell through disclosure control, every query logged."""
    answer = await run_query(
        session,
        settings,
        Query(
            measures=tuple(body.measures),
            dimensions=tuple(body.dimensions),
            filters={name: list(values) for name, values in body.filters.items()},
            mode=body.mode,
            epsilon=body.epsilon,
        ),
        analyst_id=caller.user_id,
    )
    return QueryOut(
        rows=answer.rows,
        suppressed=answer.suppressed,
        mode=answer.mode,
        epsilon_spent=answer.epsilon_spent,
        epsilon_remaining=answer.epsilon_remaining,
    )


@router.get("/budget", response_model=BudgetOut)
async def budget(caller: Analyst, session: DbSession, settings: AppSettings) -> BudgetOut:
    """This month's privacy budget (DP mode) and the minimum residents per shown cell."""
    period = budget_period()
    spent = await epsilon_spent(session, caller.user_id, period)
    monthly = settings.analytics_dp_epsilon_per_month
    return BudgetOut(
        period=period,
        epsilon_monthly=monthly,
        epsilon_spent=spent,
        epsilon_remaining=max(0.0, monthly - spent),
        min_residents=settings.analytics_min_residents,
    )
