"""The campaign views that read analytics' facts or publish figures about residents: the
cost estimate, the effect report and the reward totals, all through disclosure control.

They keep the campaign API's paths (``/api/v1/campaigns/{id}/...``, API.md) but live here,
so that campaigns, which every payment goes through, never imports analytics (polars,
OpenDP) and its disclosure rules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from analytics import campaign_reports
from analytics.query import thresholds
from analytics.schemas import TotalsOut, TotalsRow
from campaigns import get_campaign
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, DbSession
from machipay.schemas import Id
from machipay.timeutil import to_tokyo, utcnow
from ward import list_categories, list_shopping_streets

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

# The same readers as the rest of the campaign API: analysts see effect reports, no more.
Reader = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR))]
Viewer = Annotated[
    AccessClaims,
    Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR, Role.ANALYST)),
]


@router.get("/{campaign_id}/totals", response_model=TotalsOut)
async def totals(
    campaign_id: Id,
    _caller: Reader,
    session: DbSession,
    settings: AppSettings,
    by: Annotated[
        Literal["shopping_street", "category", "store_type"], Query()
    ] = "shopping_street",
) -> TotalsOut:
    """Rewards granted so far (net of revocations) per street, category or store type;
    a row about too few residents or shops is hidden (its figures null)."""
    await get_campaign(session, campaign_id)
    names: dict[str | None, str] = {}
    if by == "shopping_street":
        names = {str(s.id): s.name for s in await list_shopping_streets(session)}
    elif by == "category":
        names = {c.code: c.name for c in await list_categories(session)}
    rules = thresholds(settings)
    rows = await campaign_reports.disclosed_reward_totals(session, campaign_id, by, rules)
    return TotalsOut(
        campaign_id=campaign_id,
        by=by,
        rows=[TotalsRow(**row, name=names.get(row["key"])) for row in rows],
        suppressed=sum(1 for row in rows if row["suppressed"]),
        min_residents=rules.min_residents,
        as_of=to_tokyo(utcnow()),
    )


@router.get("/{campaign_id}/estimate")
async def estimate(
    campaign_id: Id,
    _caller: Reader,
    session: DbSession,
    settings: AppSettings,
    uplift_percent: Annotated[int, Query(ge=0, le=500)] = 0,
) -> dict[str, Any]:
    """What the campaign may cost, from the last four weeks of spend at eligible shops
    (every figure through disclosure control)."""
    campaign = await get_campaign(session, campaign_id)
    return await campaign_reports.estimate(
        session,
        campaign,
        now=utcnow(),
        rules_of_disclosure=thresholds(settings),
        uplift_percent=uplift_percent,
    )


@router.get("/{campaign_id}/report")
async def report(
    campaign_id: Id, _caller: Viewer, session: DbSession, settings: AppSettings
) -> dict[str, Any]:
    """The effect report: spend vs the period before, by street, new-to-shop residents,
    budget used, cost per yen of uplift (final once the campaign is closed). Approved
    campaigns only (409 before); every figure through disclosure control."""
    campaign = await get_campaign(session, campaign_id)
    return await campaign_reports.effect_report(
        session, campaign, now=utcnow(), rules_of_disclosure=thresholds(settings)
    )
