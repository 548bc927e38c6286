"""Analysts' HTTP API (API.md: Analytics). Other roles get 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from analytics.query import Query, run_query
from analytics.schemas import QueryIn, QueryOut
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, DbSession

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Analyst = Annotated[AccessClaims, Depends(require_roles(Role.ANALYST))]


@router.post("/query", response_model=QueryOut)
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
        ),
        analyst_id=caller.user_id,
    )
    return QueryOut(
        rows=answer.rows, suppressed=answer.suppressed, mode=answer.mode, epsilon_spent=None
    )
