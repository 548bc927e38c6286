"""Analysts' HTTP API (API.md: Analytics). Other roles get 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Query as QueryParam

from analytics.dp_budget import budgets, months_read, months_window
from analytics.query import Query, run_query
from analytics.schemas import BudgetOut, MonthBudgetOut, QueryIn, QueryOut
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
async def budget(
    _caller: Analyst,
    session: DbSession,
    settings: AppSettings,
    month: Annotated[list[str] | None, QueryParam(max_length=200)] = None,
) -> BudgetOut:
    """The privacy budget (DP mode) of the data months asked (default: every month DP mode
    may read), shared by all analysts, and the minimum residents per shown cell."""
    allowed = months_window(settings)
    asked = months_read({"month": month} if month else {}, allowed)
    total = settings.analytics_dp_epsilon_per_data_month
    rows = await budgets(session, asked, total)
    return BudgetOut(
        period=asked[0] if len(asked) == 1 else f"{asked[0]}..{asked[-1]}",
        epsilon_monthly=total,
        # A query over all the months asked may spend no more than the least left in one.
        epsilon_spent=max(r.epsilon_spent for r in rows),
        epsilon_remaining=min(r.epsilon_remaining for r in rows),
        months=[
            MonthBudgetOut(
                month=r.month, epsilon_spent=r.epsilon_spent, epsilon_remaining=r.epsilon_remaining
            )
            for r in rows
        ],
        min_residents=settings.analytics_min_residents,
    )
