"""Campaign admin API for the ward's officers and approvers (and operators, read-only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from campaigns import service
from campaigns.budget import remaining_budgets
from campaigns.burn import budget_history
from campaigns.models import Campaign
from campaigns.schemas import (
    AuditOut,
    BurnOut,
    BurnPoint,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    Decision,
    RewardTotals,
    WithdrawalIn,
)
from campaigns.service import Totals
from campaigns.status import live_status
from identity import usernames
from machipay.auth import AccessClaims, Role, require_roles
from machipay.cache import CacheBackend
from machipay.deps import AppSettings, Cache, DbSession
from machipay.schemas import Id
from machipay.timeutil import to_tokyo, utcnow

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

Author = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER))]
Approver = Annotated[AccessClaims, Depends(require_roles(Role.APPROVER))]
Reader = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR))]
# Analysts see which campaigns ran and their effect reports (disclosure-controlled), no more.
Viewer = Annotated[
    AccessClaims,
    Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR, Role.ANALYST)),
]
LiveStatus = Literal["draft", "submitted", "approved", "active", "ended", "closed", "withdrawn"]

# The live remaining budget is summed from the shards at most once a second per campaign,
# however many consoles watch it burn.
BUDGET_CACHE_SECONDS = 1


async def _remaining(session: DbSession, cache: CacheBackend, campaign_id: int) -> int:
    key = f"campaign-budget:{campaign_id}"
    cached = await cache.get(key)
    if cached is not None:
        return int(cached)
    remaining = (await remaining_budgets(session, [campaign_id]))[campaign_id]
    await cache.set(key, str(remaining), ttl_seconds=BUDGET_CACHE_SECONDS)
    return remaining


def _out(campaign: Campaign, remaining: int, totals: Totals) -> CampaignOut:
    terms = service.terms_of(campaign)
    terms["starts_at"] = to_tokyo(campaign.starts_at)
    terms["ends_at"] = to_tokyo(campaign.ends_at)
    return CampaignOut(
        **terms,
        id=campaign.id,
        status=live_status(campaign, utcnow()),
        budget_remaining=remaining if campaign.funding_entry_id else campaign.budget,
        rewards=RewardTotals(
            payments=totals.payments,
            resident_points=totals.resident_points,
            merchant_cashback=totals.merchant_cashback,
            pending=totals.pending,
            revoked=totals.revoked,
            unrecovered=totals.unrecovered,
        ),
        end_reason=campaign.end_reason,
        created_by=campaign.created_by,
        created_at=to_tokyo(campaign.created_at),
        submitted_by=campaign.submitted_by,
        submitted_at=to_tokyo(campaign.submitted_at) if campaign.submitted_at else None,
        approved_by=campaign.approved_by,
        approved_at=to_tokyo(campaign.approved_at) if campaign.approved_at else None,
        ended_at=to_tokyo(campaign.ended_at) if campaign.ended_at else None,
        closed_at=to_tokyo(campaign.closed_at) if campaign.closed_at else None,
        withdrawn_by=campaign.withdrawn_by,
        withdrawn_at=to_tokyo(campaign.withdrawn_at) if campaign.withdrawn_at else None,
    )


async def _view(session: DbSession, cache: CacheBackend, campaign: Campaign) -> CampaignOut:
    remaining = await _remaining(session, cache, campaign.id) if campaign.funding_entry_id else 0
    totals = (await service.reward_totals(session, [campaign.id]))[campaign.id]
    return _out(campaign, remaining, totals)


@router.post("", status_code=201, response_model=CampaignOut)
async def create(body: CampaignIn, caller: Author, session: DbSession, cache: Cache) -> CampaignOut:
    """Draft a campaign. Rates in basis points; caps ``null`` mean no cap; empty eligibility
    lists mean "all"."""
    campaign = await service.create_campaign(session, body, actor_id=caller.user_id)
    return await _view(session, cache, campaign)


@router.get("", response_model=CampaignPage)
async def list_(
    _caller: Viewer,
    session: DbSession,
    status: Annotated[list[LiveStatus] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=80, description="Part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Id | None = None,
) -> CampaignPage:
    """Campaigns, newest first, filtered by live status and name."""
    campaigns, next_cursor = await service.list_campaigns(
        session, statuses=list(status or []), name=q, limit=limit, before_id=cursor
    )
    ids = [c.id for c in campaigns]
    remaining = await remaining_budgets(session, ids)
    totals = await service.reward_totals(session, ids)
    return CampaignPage(
        items=[_out(c, remaining[c.id], totals[c.id]) for c in campaigns],
        next_cursor=next_cursor,
    )


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get(
    campaign_id: Id, _caller: Viewer, session: DbSession, cache: Cache, response: Response
) -> CampaignOut:
    """The campaign with its live status and remaining budget (at most a second old)."""
    response.headers["Cache-Control"] = f"private, max-age={BUDGET_CACHE_SECONDS}"
    return await _view(session, cache, await service.get_campaign(session, campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignOut)
async def update(
    campaign_id: Id, body: CampaignPatch, caller: Author, session: DbSession, cache: Cache
) -> CampaignOut:
    """Change a draft or a submitted campaign (audited field by field); a submitted one goes
    back to draft and needs a new submission."""
    campaign = await service.update_draft(session, campaign_id, body, actor_id=caller.user_id)
    return await _view(session, cache, campaign)


@router.post("/{campaign_id}/submit", response_model=CampaignOut)
async def submit(campaign_id: Id, caller: Author, session: DbSession, cache: Cache) -> CampaignOut:
    campaign = await service.submit(session, campaign_id, actor_id=caller.user_id)
    return await _view(session, cache, campaign)


@router.post("/{campaign_id}/approve", response_model=CampaignOut)
async def approve(
    campaign_id: Id, caller: Approver, session: DbSession, cache: Cache, settings: AppSettings
) -> CampaignOut:
    """Approve (a second person: the author or submitter gets 403) and fund the budget from
    ``bank:city``. Active from ``starts_at``, or from now if that has passed."""
    campaign = await service.approve(
        session, campaign_id, actor_id=caller.user_id, shards=settings.campaign_budget_shards
    )
    await cache.delete(f"campaign-budget:{campaign_id}")
    return await _view(session, cache, campaign)


@router.post("/{campaign_id}/reject", response_model=CampaignOut)
async def reject(
    campaign_id: Id,
    caller: Approver,
    session: DbSession,
    cache: Cache,
    body: Decision | None = None,
) -> CampaignOut:
    """Send a submitted campaign back to draft, with a reason."""
    campaign = await service.reject(
        session, campaign_id, actor_id=caller.user_id, reason=body.reason if body else None
    )
    return await _view(session, cache, campaign)


@router.post("/{campaign_id}/withdraw", response_model=CampaignOut)
async def withdraw(
    campaign_id: Id,
    caller: Author,
    session: DbSession,
    cache: Cache,
    body: WithdrawalIn | None = None,
) -> CampaignOut:
    """Withdraw (取り下げ) a draft or a submitted campaign: it will never run. Audited with
    who, when and the reason given; nothing is deleted."""
    campaign = await service.withdraw(
        session, campaign_id, actor_id=caller.user_id, reason=body.reason if body else None
    )
    return await _view(session, cache, campaign)


@router.get("/{campaign_id}/burn", response_model=BurnOut)
async def burn(campaign_id: Id, _caller: Reader, session: DbSession) -> BurnOut:
    """The budget left over time since funding (per hour in a campaign's first week, per
    day after): the burn chart's whole history, whenever a console opens it."""
    campaign = await service.get_campaign(session, campaign_id)
    now = utcnow()
    bucket, steps = await budget_history(session, campaign, now)
    return BurnOut(
        campaign_id=campaign.id,
        budget=campaign.budget,
        funded_at=(
            to_tokyo(campaign.approved_at)
            if campaign.funding_entry_id and campaign.approved_at
            else None
        ),
        bucket=bucket,
        points=[BurnPoint(at=to_tokyo(s.at), used=s.used, remaining=s.remaining) for s in steps],
        as_of=to_tokyo(now),
    )


@router.post("/{campaign_id}/end", response_model=CampaignOut)
async def end(campaign_id: Id, caller: Author, session: DbSession, cache: Cache) -> CampaignOut:
    """End a campaign now: it grants nothing from this commit on."""
    campaign = await service.end_by_hand(session, campaign_id, actor_id=caller.user_id)
    return await _view(session, cache, campaign)


@router.get("/{campaign_id}/audit", response_model=list[AuditOut])
async def audit_trail(campaign_id: Id, _caller: Reader, session: DbSession) -> list[AuditOut]:
    """Every change: who, when, what (before → after)."""
    trail = await service.audit_trail(session, campaign_id)
    names = await usernames(session, {a.actor_id for a in trail if a.actor_id is not None})
    return [
        AuditOut(
            id=a.id,
            actor_id=a.actor_id,
            actor=names.get(a.actor_id) if a.actor_id is not None else None,
            action=a.action,
            changes=a.changes,
            at=to_tokyo(a.at),
        )
        for a in trail
    ]
