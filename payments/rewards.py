"""The campaign rewards extension point.

A payment asks a :class:`CampaignRewards` policy what it earns, inside the payment's
transaction and before the payment's entry is posted: the policy reserves the budget,
records its rewards, and hands back the legs to add to that entry and the points lot
written with the payment (immediate grants), or nothing to post (deferred grants).
A refund asks the same policy what to take back, again as legs for the refund's own entry.
Payments know nothing about campaigns beyond this protocol; the campaign engine
(``campaigns``) implements it, and :data:`no_campaign_rewards` is the policy of a platform
without campaigns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from ledger import Leg


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    payment_reference: str  # the payment's pay_… id, chosen before anything is written
    resident_id: int
    merchant_id: int
    shopping_street_id: int | None
    district_id: str | None
    category: str
    store_type: str
    amount: int
    points_used: int
    money_used: int
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class PointsLotGrant:
    """Points the plan's legs credit to the resident, to be kept as one lot."""

    campaign_id: int
    amount: int
    expires_at: datetime
    counterparty: str  # shown in the resident's history: the campaign's name


@dataclass(frozen=True, slots=True)
class RewardPlan:
    resident_points: int = 0
    merchant_cashback: int = 0
    granted: bool = True  # False: pending grants, paid by `machipay grant-deferred`
    legs: tuple[Leg, ...] = ()  # added to the payment's own entry
    memo: str | None = None
    points_lot: PointsLotGrant | None = None  # written by the wallet with the payment
    # The campaign that rewarded it (the resident's reward first): analytics' campaign dimension.
    campaign_id: int | None = None


@dataclass(frozen=True, slots=True)
class RefundFacts:
    payment_reference: str
    resident_id: int
    merchant_id: int
    payment_amount: int
    refunded_before: int
    refund_amount: int
    money_back: int  # what the refund gives back in money: spent reward points come out of it
    at: datetime


@dataclass(frozen=True, slots=True)
class Revocation:
    points_taken: int = 0  # reward points taken back from the resident's points
    money_taken: int = 0  # reward points already spent, taken from the refunded money
    unrecovered: int = 0  # spent and not coverable by this refund: recorded, never hidden
    cashback_taken: int = 0
    legs: tuple[Leg, ...] = ()  # added to the refund's own entry
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class RewardPreview:
    """What a payment would earn the resident now, shown before they confirm (nothing is
    reserved: the payment decides again, with the same rules, and grants this when nothing
    changed in between)."""

    resident_points: int | None  # None: the amount is not known yet (a sticker)
    rate_bp: int
    cap_left: int | None  # points the resident may still earn from the campaign; None: no cap
    campaign_id: int
    campaign_name: str


class CampaignRewards(Protocol):
    async def plan(self, session: AsyncSession, facts: PaymentFacts) -> RewardPlan: ...

    async def plan_many(
        self, session: AsyncSession, facts: Sequence[PaymentFacts]
    ) -> list[RewardPlan]:
        """``plan`` for several payers' payments of one transaction (a group commit), in one
        round trip; the plans in the given order."""
        ...

    async def preview(
        self, session: AsyncSession, facts: PaymentFacts, *, amount_known: bool = True
    ) -> RewardPreview | None:
        """The reward ``plan`` would grant for these facts now; without a known amount (a
        sticker before the resident typed it), the rate and caps that apply at the shop."""
        ...

    async def revoke(self, session: AsyncSession, facts: RefundFacts) -> Revocation: ...

    async def rehearse(self, session: AsyncSession) -> None:
        """Send ``plan_many``'s statement once with nothing to grant, so the connection has
        it prepared (and its backend the function compiled) before a payment needs it."""
        ...


class NoCampaignRewards:
    """A platform without campaigns: no payment earns anything."""

    async def plan(self, session: AsyncSession, facts: PaymentFacts) -> RewardPlan:
        return RewardPlan()

    async def plan_many(
        self, session: AsyncSession, facts: Sequence[PaymentFacts]
    ) -> list[RewardPlan]:
        return [RewardPlan() for _ in facts]

    async def preview(
        self, session: AsyncSession, facts: PaymentFacts, *, amount_known: bool = True
    ) -> RewardPreview | None:
        return None

    async def revoke(self, session: AsyncSession, facts: RefundFacts) -> Revocation:
        return Revocation()

    async def rehearse(self, session: AsyncSession) -> None:
        return None


no_campaign_rewards: CampaignRewards = NoCampaignRewards()
