"""A funded campaign's budget over time, read from its rewards: the burn chart's history.

Each reward reserved its amount from the budget at its payment's moment, and a revocation
gave its part back; so the budget left at the end of a period is the budget less every
reward paid up to then, net of what was revoked (a revocation is drawn at its payment's
time: the rewards table keeps no time of its own for it). Hours for a campaign funded
up to a week ago, days beyond: at most 24 × 7 or 367 periods, never an unbounded answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.budget import remaining_budgets
from campaigns.models import Campaign, CampaignReward
from machipay.timeutil import TOKYO, as_utc

HOURLY_UP_TO = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class BurnStep:
    at: datetime
    used: int
    remaining: int


def bucket_for(funded_at: datetime, now: datetime) -> Literal["hour", "day"]:
    return "hour" if now - funded_at <= HOURLY_UP_TO else "day"


async def budget_history(
    session: AsyncSession, campaign: Campaign, now: datetime
) -> tuple[Literal["hour", "day"], list[BurnStep]]:
    """The full budget at funding, then what was left at the end of each period in which
    rewards were paid (the period under way ends now); a closed campaign's last step is
    its close, when what was left went back to the ward."""
    if campaign.approved_at is None or campaign.funding_entry_id is None:
        return "hour", []
    funded_at = as_utc(campaign.approved_at)
    bucket = bucket_for(funded_at, now)
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    # Periods in Tokyo time, so a day is the ward's day.
    period = func.date_trunc(bucket, func.timezone("Asia/Tokyo", CampaignReward.paid_at))
    rows = await session.execute(
        select(period, func.sum(CampaignReward.amount - CampaignReward.revoked))
        .where(CampaignReward.campaign_id == campaign.id)
        .group_by(period)
        .order_by(period)
    )
    steps = [BurnStep(funded_at, 0, campaign.budget)]
    used = 0
    for start, amount in rows:
        used += int(amount or 0)
        end = min(start.replace(tzinfo=TOKYO) + step, now)
        steps.append(BurnStep(max(end, funded_at), used, campaign.budget - used))
    if campaign.status == "closed" and campaign.closed_at is not None:
        left = (await remaining_budgets(session, [campaign.id]))[campaign.id]
        steps.append(BurnStep(as_utc(campaign.closed_at), used, left))
    return bucket, steps
