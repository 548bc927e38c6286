"""Part of ``machipay verify``: every campaign budget agrees with its shards.

The ledger takes reward debits from a campaign budget without locking it, because the
shards reserved them first (DESIGN.md 3.3). So the books hold only if, for every funded
campaign, the budget account equals what the shards still hold plus the pending grants
reserved from them.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from campaigns.models import BudgetShard, Campaign, CampaignReward
from ledger import Finding


async def verify_campaign_budgets(session: AsyncSession) -> list[Finding]:
    funded = [
        int(c)
        for c in (
            await session.execute(select(Campaign.id).where(Campaign.funding_entry_id.is_not(None)))
        ).scalars()
    ]
    if not funded:
        return []
    balances = await ledger.get_balances(session, [ledger.campaign_budget(c) for c in funded])
    shards: dict[int, int] = {
        int(c): int(total or 0)
        for c, total in (
            await session.execute(
                select(BudgetShard.campaign_id, func.sum(BudgetShard.remaining)).group_by(
                    BudgetShard.campaign_id
                )
            )
        ).all()
    }
    pending: dict[int, int] = {
        int(c): int(total or 0)
        for c, total in (
            await session.execute(
                select(
                    CampaignReward.campaign_id,
                    func.sum(
                        case(
                            (
                                CampaignReward.status == "pending",
                                CampaignReward.amount - CampaignReward.revoked,
                            ),
                            else_=0,
                        )
                    ),
                ).group_by(CampaignReward.campaign_id)
            )
        ).all()
    }
    findings = []
    for campaign_id in funded:
        held = int(shards.get(campaign_id) or 0)
        reserved = int(pending.get(campaign_id) or 0)
        balance = balances[ledger.campaign_budget(campaign_id)]
        if balance != held + reserved:
            findings.append(
                Finding(
                    "campaign-budget",
                    f"campaign {campaign_id}",
                    f"budget account stands at {balance} but shards hold {held}"
                    f" and pending grants {reserved}",
                )
            )
    return findings
