"""The campaign rewards extension point.

Every payment asks a :class:`CampaignRewards` policy what it earns, inside the payment's
transaction. The campaign engine provides the real policy; until it is installed the
platform runs :func:`no_campaign_rewards` and every payment earns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    payment_id: int
    resident_id: int
    merchant_id: int
    shopping_street_id: int | None
    category: str
    store_type: str
    amount: int
    points_used: int
    money_used: int
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class Rewards:
    resident_points: int = 0
    merchant_cashback: int = 0
    granted: bool = True  # False: recorded as pending grants, paid by `machipay grant-deferred`


class CampaignRewards(Protocol):
    async def __call__(self, session: AsyncSession, facts: PaymentFacts) -> Rewards: ...


async def no_campaign_rewards(session: AsyncSession, facts: PaymentFacts) -> Rewards:
    return Rewards()
