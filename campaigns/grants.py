"""Deferred grants and closing campaigns: the batch behind ``machipay grant-deferred``.

A deferred campaign reserves its budget at each payment and records a pending grant; once
its period is over (its window ended, or it was ended) the batch posts the grants, a few
hundred per transaction. Each grant has its own idempotency key and turns ``granted`` in
the same transaction as its entry, so a re-run (or a crash half-way) grants nothing twice.

A campaign whose period is over and that has nothing pending is closed: what is left of
its budget goes back to the ward (Dr ``campaign:{id}:budget`` / Cr ``bank:city``), and
from then on revoked rewards go to its breakage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from campaigns import budget
from campaigns.models import Campaign, CampaignReward
from campaigns.rules import CampaignRules
from campaigns.status import (
    audit,
    campaigns_changed_after_commit,
    end_campaign,
    live_status_column,
)
from ledger import credit, debit
from wallet_api import add_points_lot


def _period_over(now: datetime) -> ColumnElement[bool]:
    """Ended by hand, by its budget or by its window, and not closed yet."""
    return live_status_column(now) == "ended"


async def campaigns_due(session: AsyncSession, now: datetime) -> list[int]:
    """Campaigns whose period is over and that are not closed yet."""
    return [
        int(c)
        for c in (
            await session.execute(
                select(Campaign.id).where(_period_over(now)).order_by(Campaign.id)
            )
        ).scalars()
    ]


@dataclass(frozen=True, slots=True)
class BatchResult:
    granted: int
    points: int
    cashback: int


async def grant_pending_batch(
    session: AsyncSession, campaign_id: int, *, now: datetime, limit: int = 500
) -> BatchResult:
    """Post up to ``limit`` pending grants of a campaign whose period is over."""
    campaign = (
        await session.execute(select(Campaign).where(Campaign.id == campaign_id, _period_over(now)))
    ).scalar_one_or_none()
    if campaign is None:
        return BatchResult(0, 0, 0)
    rules = CampaignRules.of(campaign)
    pending = list(
        (
            await session.execute(
                select(CampaignReward)
                .where(
                    CampaignReward.campaign_id == campaign_id, CampaignReward.status == "pending"
                )
                .order_by(CampaignReward.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    points = cashback = 0
    for reward in pending:
        amount = reward.amount - reward.revoked
        reward.status, reward.granted_at = "granted", now
        if amount <= 0:
            continue  # refunded in full before it was granted
        if reward.kind == "resident":
            target = credit(ledger.resident_points(reward.resident_id), amount)
        else:
            target = credit(ledger.merchant_payable(reward.merchant_id), amount)
        posted = await ledger.post_entry(
            session,
            idempotency_key=f"campaign-grant:{reward.id}",
            kind="campaign_grant",
            legs=[debit(ledger.campaign_budget(campaign_id), amount), target],
            memo=f"deferred {reward.kind} reward of campaign {campaign_id} (reward {reward.id})",
        )
        reward.entry_id = posted.id
        if reward.kind == "resident":
            await add_points_lot(
                session,
                resident_id=reward.resident_id,
                amount=amount,
                campaign_id=campaign_id,
                expires_at=rules.points_expiry(now),
                entry_id=posted.id,
                counterparty=campaign.name[:80],
                at=now,
                source_reference=reward.payment_reference,
            )
            points += amount
        else:
            cashback += amount
    await session.flush()
    return BatchResult(len(pending), points, cashback)


async def close_if_done(session: AsyncSession, campaign_id: int, *, now: datetime) -> bool:
    """Close a campaign whose period is over and whose grants are all done."""
    campaign = (
        await session.execute(
            select(Campaign).where(Campaign.id == campaign_id, _period_over(now)).with_for_update()
        )
    ).scalar_one_or_none()
    if campaign is None:
        return False
    # Shards first: a payment that reserved just before the end commits its pending grant
    # before we look for pending grants.
    unspent = await budget.lock_shards(session, campaign_id)
    still_pending = (
        await session.execute(
            select(
                exists().where(
                    CampaignReward.campaign_id == campaign_id, CampaignReward.status == "pending"
                )
            )
        )
    ).scalar_one()
    if still_pending:
        return False
    if campaign.status == "approved":
        await end_campaign(session, campaign_id, reason="window", actor_id=None)
    await budget.empty_shards(session, campaign_id)
    changes: dict[str, object] = {"status": ["ended", "closed"], "unspent_returned": unspent}
    if unspent:
        returned = await ledger.post_entry(
            session,
            idempotency_key=f"campaign-return:{campaign_id}",
            kind="campaign_return",
            legs=[
                debit(ledger.campaign_budget(campaign_id), unspent),
                credit(ledger.BANK_CITY, unspent),
            ],
            memo=f"unspent budget of campaign {campaign_id} back to the ward",
        )
        campaign.return_entry_id = returned.id
        changes["return_entry_id"] = returned.id
    campaign.status, campaign.closed_at = "closed", now
    audit(session, campaign_id, actor_id=None, action="close", changes=changes)
    campaigns_changed_after_commit(session)
    await session.flush()
    return True
