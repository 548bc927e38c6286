"""Campaign definitions and their workflow: draft → submitted → approved → ended → closed;
a draft or a submitted campaign may be withdrawn (取り下げ) instead.

Maker-checker: the approver must be a different person from whoever created, edited or
submitted the campaign, and an edit after submission sends it back to draft. Approval funds
the budget in the ledger (Dr ``bank:city`` / Cr ``campaign:{id}:budget``) and cuts it into
shards. Every change is audited with who, when and what changed (before → after).
Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from campaigns import budget
from campaigns.errors import CampaignNotFound, CampaignStateConflict, SelfApproval
from campaigns.models import BudgetShard, Campaign, CampaignAudit, CampaignReward
from campaigns.schemas import CampaignIn, CampaignPatch, CampaignTerms, Eligibility
from campaigns.status import (
    audit,
    campaigns_changed_after_commit,
    end_campaign,
    live_status,
    live_status_column,
)
from ledger import credit, debit
from machipay.errors import ValidationFailed
from machipay.timeutil import as_utc, utcnow
from ward import district_exists, get_category, get_shopping_street

EDITABLE = (
    "name",
    "starts_at",
    "ends_at",
    "resident_rate_bp",
    "merchant_rate_bp",
    "budget",
    "per_payment_cap",
    "per_resident_cap",
    "per_resident_monthly_cap",
    "min_payment",
    "grant",
    "points_expiry_days",
    "eligibility",
    "tiers",
)


def terms_of(campaign: Campaign) -> dict[str, Any]:
    """The campaign's definition, in the shape of the API (and of the audit trail)."""
    return {
        "name": campaign.name,
        "starts_at": as_utc(campaign.starts_at).isoformat(),
        "ends_at": as_utc(campaign.ends_at).isoformat(),
        "resident_rate_bp": campaign.resident_rate_bp,
        "merchant_rate_bp": campaign.merchant_rate_bp,
        "budget": campaign.budget,
        "per_payment_cap": campaign.per_payment_cap,
        "per_resident_cap": campaign.per_resident_cap,
        "per_resident_monthly_cap": campaign.per_resident_monthly_cap,
        "min_payment": campaign.min_payment,
        "grant": campaign.grant_timing,
        "points_expiry_days": campaign.points_expiry_days,
        "eligibility": campaign.eligibility,
        "tiers": campaign.tiers,
    }


def _apply(campaign: Campaign, terms: CampaignTerms) -> None:
    campaign.name = terms.name
    campaign.starts_at = terms.starts_at
    campaign.ends_at = terms.ends_at
    campaign.resident_rate_bp = terms.resident_rate_bp
    campaign.merchant_rate_bp = terms.merchant_rate_bp
    campaign.budget = terms.budget
    campaign.per_payment_cap = terms.per_payment_cap
    campaign.per_resident_cap = terms.per_resident_cap
    campaign.per_resident_monthly_cap = terms.per_resident_monthly_cap
    campaign.min_payment = terms.min_payment
    campaign.grant_timing = terms.grant
    campaign.points_expiry_days = terms.points_expiry_days
    campaign.eligibility = terms.eligibility.model_dump()
    campaign.tiers = [t.model_dump() for t in terms.tiers]


async def _check_references(session: AsyncSession, eligibility: Eligibility) -> None:
    for street_id in eligibility.shopping_street_ids:
        if await get_shopping_street(session, street_id) is None:
            raise ValidationFailed(f"eligibility: no shopping street {street_id}.")
    for code in eligibility.categories:
        if await get_category(session, code) is None:
            raise ValidationFailed(f"eligibility: no merchant category {code!r}.")
    for district_id in eligibility.district_ids:
        if not await district_exists(session, district_id):
            raise ValidationFailed(f"eligibility: no district {district_id!r}.")


def _check_future(terms: CampaignTerms, now: datetime) -> None:
    if terms.ends_at <= now:
        raise ValidationFailed("ends_at is in the past: the campaign would never run.")


async def create_campaign(session: AsyncSession, terms: CampaignIn, *, actor_id: int) -> Campaign:
    await _check_references(session, terms.eligibility)
    now = utcnow()
    _check_future(terms, now)
    campaign = Campaign(status="draft", created_by=actor_id, created_at=now)
    _apply(campaign, terms)
    session.add(campaign)
    await session.flush()
    audit(session, campaign.id, actor_id=actor_id, action="create", changes=terms_of(campaign))
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: int, *, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    campaign = (await session.execute(query)).scalar_one_or_none()
    if campaign is None:
        raise CampaignNotFound(f"No campaign {campaign_id}.")
    return campaign


async def update_draft(
    session: AsyncSession, campaign_id: int, patch: CampaignPatch, *, actor_id: int
) -> Campaign:
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status not in ("draft", "submitted"):
        raise CampaignStateConflict(
            f"Only a draft or a submitted campaign can be changed; this one is {campaign.status}."
        )
    before = terms_of(campaign)
    merged = {**before, **patch.model_dump(exclude_unset=True)}
    try:
        terms = CampaignTerms.model_validate(merged)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    await _check_references(session, terms.eligibility)
    _check_future(terms, utcnow())
    _apply(campaign, terms)
    after = terms_of(campaign)
    changes: dict[str, Any] = {k: [before[k], after[k]] for k in EDITABLE if before[k] != after[k]}
    if changes:
        # What an approver would approve must be what was submitted: any edit needs a new
        # submission (and its editor can no longer approve it, see :func:`approve`).
        if campaign.status == "submitted":
            campaign.status, campaign.submitted_by, campaign.submitted_at = "draft", None, None
            changes["status"] = ["submitted", "draft"]
        audit(session, campaign.id, actor_id=actor_id, action="update", changes=changes)
    await session.flush()
    return campaign


async def submit(session: AsyncSession, campaign_id: int, *, actor_id: int) -> Campaign:
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise CampaignStateConflict(
            f"Only a draft can be submitted; this one is {campaign.status}."
        )
    if as_utc(campaign.ends_at) <= utcnow():
        raise CampaignStateConflict("The campaign's window is already over.")
    campaign.status, campaign.submitted_by, campaign.submitted_at = "submitted", actor_id, utcnow()
    audit(
        session, campaign.id, actor_id=actor_id, action="submit", changes=_moved("draft", campaign)
    )
    return campaign


async def reject(
    session: AsyncSession, campaign_id: int, *, actor_id: int, reason: str | None
) -> Campaign:
    """The approver sends a submitted campaign back to its author as a draft."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "submitted":
        raise CampaignStateConflict(
            f"Only a submitted campaign can be sent back; this one is {campaign.status}."
        )
    campaign.status, campaign.submitted_by, campaign.submitted_at = "draft", None, None
    changes = _moved("submitted", campaign)
    changes["reason"] = reason
    audit(session, campaign.id, actor_id=actor_id, action="reject", changes=changes)
    return campaign


async def withdraw(
    session: AsyncSession, campaign_id: int, *, actor_id: int, reason: str | None
) -> Campaign:
    """Withdraw (取り下げ) a draft or a submitted campaign: it will never run. A state change
    with who and when, audited; the row and its trail stay (nothing about money is ever
    deleted, and an approver must not find a submission gone without a word)."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status not in ("draft", "submitted"):
        raise CampaignStateConflict(
            f"Only a draft or a submitted campaign can be withdrawn; this one is {campaign.status}."
        )
    before = campaign.status
    campaign.status, campaign.withdrawn_by, campaign.withdrawn_at = "withdrawn", actor_id, utcnow()
    changes = _moved(before, campaign)
    changes["reason"] = reason
    audit(session, campaign.id, actor_id=actor_id, action="withdraw", changes=changes)
    await session.flush()
    return campaign


async def approve(
    session: AsyncSession, campaign_id: int, *, actor_id: int, shards: int
) -> Campaign:
    """Approve (maker-checker) and fund the budget from the ward's campaign money."""
    campaign = await get_campaign(session, campaign_id, lock=True)
    if campaign.status != "submitted":
        raise CampaignStateConflict(
            f"Only a submitted campaign can be approved; this one is {campaign.status}."
        )
    if actor_id in (campaign.submitted_by, campaign.created_by) or actor_id in await editors_of(
        session, campaign.id
    ):
        raise SelfApproval(
            "A campaign is approved by someone other than who wrote, edited or submitted it."
        )
    now = utcnow()
    if as_utc(campaign.ends_at) <= now:
        raise CampaignStateConflict("The campaign's window is already over.")
    budget_account = ledger.campaign_budget(campaign.id)
    await ledger.open_accounts(session, [budget_account, ledger.campaign_breakage(campaign.id)])
    funded = await ledger.post_entry(
        session,
        idempotency_key=f"campaign-funding:{campaign.id}",
        kind="campaign_funding",
        legs=[debit(ledger.BANK_CITY, campaign.budget), credit(budget_account, campaign.budget)],
        memo=f"budget of campaign {campaign.id} ({campaign.name})",
    )
    session.add_all(
        BudgetShard(campaign_id=campaign.id, shard=index, remaining=amount)
        for index, amount in enumerate(budget.split_budget(campaign.budget, shards))
    )
    campaign.status, campaign.approved_by, campaign.approved_at = "approved", actor_id, now
    campaign.funding_entry_id = funded.id
    changes = _moved("submitted", campaign)
    changes["funding_entry_id"] = funded.id
    audit(session, campaign.id, actor_id=actor_id, action="approve", changes=changes)
    campaigns_changed_after_commit(session)
    await session.flush()
    return campaign


async def editors_of(session: AsyncSession, campaign_id: int) -> set[int]:
    """Everyone who ever changed the campaign's terms (the audit trail keeps each edit)."""
    rows = await session.execute(
        select(CampaignAudit.actor_id).where(
            CampaignAudit.campaign_id == campaign_id, CampaignAudit.action == "update"
        )
    )
    return {int(actor) for actor in rows.scalars() if actor is not None}


async def end_by_hand(session: AsyncSession, campaign_id: int, *, actor_id: int) -> Campaign:
    campaign = await get_campaign(session, campaign_id, lock=True)
    status = live_status(campaign, utcnow())
    if status not in ("approved", "active"):
        raise CampaignStateConflict(
            f"Only a running or approved campaign can be ended; this one is {status}."
        )
    await end_campaign(session, campaign.id, reason="manual", actor_id=actor_id)
    await session.refresh(campaign)
    return campaign


def _moved(before: str, campaign: Campaign) -> dict[str, Any]:
    return {"status": [before, campaign.status]}


async def list_campaigns(
    session: AsyncSession,
    *,
    statuses: list[str] | None,
    name: str | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[Campaign], int | None]:
    """Newest first. ``statuses`` are live statuses (``active`` = approved and in window)."""
    query = select(Campaign)
    if statuses:
        query = query.where(live_status_column(utcnow()).in_(statuses))
    if name:
        query = query.where(func.lower(Campaign.name).contains(name.lower(), autoescape=True))
    if before_id is not None:
        query = query.where(Campaign.id < before_id)
    rows = list(
        (await session.execute(query.order_by(Campaign.id.desc()).limit(limit + 1))).scalars()
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


@dataclass(frozen=True, slots=True)
class Totals:
    payments: int = 0
    resident_points: int = 0
    merchant_cashback: int = 0
    pending: int = 0
    revoked: int = 0
    unrecovered: int = 0


async def reward_totals(session: AsyncSession, campaign_ids: list[int]) -> dict[int, Totals]:
    """Rewards so far per campaign, net of revocations (granted and pending)."""
    if not campaign_ids:
        return {}
    net = CampaignReward.amount - CampaignReward.revoked
    rows = await session.execute(
        select(
            CampaignReward.campaign_id,
            func.count(func.distinct(CampaignReward.payment_reference)),
            func.sum(case((CampaignReward.kind == "resident", net), else_=0)),
            func.sum(case((CampaignReward.kind == "merchant", net), else_=0)),
            func.sum(case((CampaignReward.status == "pending", net), else_=0)),
            func.sum(CampaignReward.revoked),
            func.sum(CampaignReward.unrecovered),
        )
        .where(CampaignReward.campaign_id.in_(campaign_ids))
        .group_by(CampaignReward.campaign_id)
    )
    found = {int(row[0]): Totals(*(int(v or 0) for v in row[1:])) for row in rows}
    return {c: found.get(c, Totals()) for c in campaign_ids}


_DIMENSIONS = {
    "shopping_street": CampaignReward.shopping_street_id,
    "category": CampaignReward.category,
    "store_type": CampaignReward.store_type,
}


async def reward_totals_by(
    session: AsyncSession, campaign_id: int, dimension: str
) -> list[tuple[str | None, int, int, int]]:
    """(key, payments, resident points, merchant cashback) per street, category or store type."""
    column = _DIMENSIONS[dimension]
    net = CampaignReward.amount - CampaignReward.revoked
    rows = await session.execute(
        select(
            column,
            func.count(func.distinct(CampaignReward.payment_reference)),
            func.sum(case((CampaignReward.kind == "resident", net), else_=0)),
            func.sum(case((CampaignReward.kind == "merchant", net), else_=0)),
        )
        .where(CampaignReward.campaign_id == campaign_id)
        .group_by(column)
        .order_by(column)
    )
    return [
        (None if key is None else str(key), int(n), int(p or 0), int(c or 0))
        for key, n, p, c in rows
    ]


async def rewards_by_resident_and_shop(
    session: AsyncSession, campaign_id: int, dimension: str
) -> list[tuple[str | None, int, int, int]]:
    """(key, resident id, merchant id, rewards net of revocations) per street, category or
    store type: who stands behind each row of :func:`reward_totals_by`, for disclosure
    control."""
    column = _DIMENSIONS[dimension]
    rows = await session.execute(
        select(
            column,
            CampaignReward.resident_id,
            CampaignReward.merchant_id,
            func.sum(CampaignReward.amount - CampaignReward.revoked),
        )
        .where(CampaignReward.campaign_id == campaign_id)
        .group_by(column, CampaignReward.resident_id, CampaignReward.merchant_id)
    )
    return [
        (None if key is None else str(key), int(resident), int(merchant), int(amount or 0))
        for key, resident, merchant, amount in rows
    ]


async def audit_trail(session: AsyncSession, campaign_id: int) -> list[CampaignAudit]:
    await get_campaign(session, campaign_id)
    return list(
        (
            await session.execute(
                select(CampaignAudit)
                .where(CampaignAudit.campaign_id == campaign_id)
                .order_by(CampaignAudit.id)
            )
        ).scalars()
    )
