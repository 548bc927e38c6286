"""The reward engine: what each payment earns, and what each refund takes back.

It implements the :class:`payments.CampaignRewards` policy of payments. Per payment it reads
no campaign row (approved campaigns are kept in memory for at most a second, and reloaded
at once after a change committed in this process), reads the resident's tallies only when
the winning campaign caps residents, and reserves the budget from one shard.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

import ledger
from campaigns import budget
from campaigns.budget import remaining_budgets
from campaigns.models import Campaign, CampaignReward, ResidentTally
from campaigns.rules import (
    CampaignRules,
    ShopFacts,
    best_merchant_offer,
    best_resident_offer,
    best_shop_offer,
    capped_resident_points,
    caps_left,
    share,
    tokyo_month,
)
from campaigns.status import changes_seen, end_campaign
from ledger import Leg, credit, debit
from machipay.db import UTCDateTime
from machipay.hotsql import HotStatement
from payments import (
    PaymentFacts,
    PointsLotGrant,
    RefundFacts,
    Revocation,
    RewardPlan,
    RewardPreview,
)
from wallet_api import take_back_from_lot


@dataclass(frozen=True, slots=True)
class _Grant:
    campaign: CampaignRules
    kind: str  # resident | merchant
    amount: int


@dataclass(slots=True)
class _Ask:
    facts: PaymentFacts
    month: str
    points_rules: CampaignRules | None = None
    points: int = 0
    cashback_rules: CampaignRules | None = None
    cashback: int = 0


# campaign_grant's arguments in order, with their types: campaign_grant_batch takes the same,
# an array of each, except the number of shards.
_BIGINT, _TEXT = BigInteger(), String()
_GRANT_ARGUMENTS: dict[str, TypeEngine[Any]] = {
    "payment": _TEXT, "resident": _BIGINT, "merchant": _BIGINT, "street": _BIGINT,
    "category": _TEXT, "store_type": _TEXT, "district": _TEXT, "amount": _BIGINT,
    "paid_at": UTCDateTime(), "month": _TEXT, "shards": Integer(), "points_campaign": _BIGINT,
    "points": _BIGINT, "points_deferred": Boolean(), "monthly_cap": _BIGINT,
    "campaign_cap": _BIGINT, "cashback_campaign": _BIGINT, "cashback": _BIGINT,
    "cashback_deferred": Boolean(),
}  # fmt: skip
_GRANT = HotStatement.function_call(
    "points, cashback, exhausted", "campaign_grant", _GRANT_ARGUMENTS
)
_GRANT_BATCH = HotStatement.function_call(
    "ord, points, cashback, exhausted",
    "campaign_grant_batch",
    {name: type_ if name == "shards" else ARRAY(type_) for name, type_ in _GRANT_ARGUMENTS.items()},
)
_GRANT_ARRAYS = tuple(name for name in _GRANT_ARGUMENTS if name != "shards")


def _ask_of(campaigns: Sequence[CampaignRules], facts: PaymentFacts) -> _Ask | None:
    """What the best offers would grant this payment before caps and budgets (None: nothing)."""
    resident_offer = best_resident_offer(campaigns, facts)
    merchant_offer = best_merchant_offer(campaigns, facts)
    ask = _Ask(facts=facts, month=tokyo_month(facts.paid_at))
    if resident_offer is not None:
        ask.points_rules = resident_offer.rules
        # Points spent earn no points; the per-payment cap first, the others with the tallies.
        ask.points = capped_resident_points(
            resident_offer.rules,
            share(facts.money_used, resident_offer.rate_bp),
            earned_this_month=0,
            earned_in_campaign=0,
        )
    if merchant_offer is not None:
        ask.cashback_rules = merchant_offer.rules
        ask.cashback = share(facts.amount, merchant_offer.rate_bp)
    if ask.points <= 0 and ask.cashback <= 0:
        return None
    return ask


def _plan_of(ask: _Ask, points: int, cashback: int) -> RewardPlan:
    """The plan for what the database granted: the legs, the memo and the points lot."""
    facts = ask.facts
    grants: list[_Grant] = []
    if points and ask.points_rules is not None:
        grants.append(_Grant(ask.points_rules, "resident", points))
    if cashback and ask.cashback_rules is not None:
        grants.append(_Grant(ask.cashback_rules, "merchant", cashback))
    if not grants:
        return RewardPlan()
    legs: list[Leg] = []
    notes: list[str] = []
    for grant in grants:
        if grant.campaign.deferred:
            notes.append(f"campaign {grant.campaign.id}: {grant.kind} {grant.amount} pending")
            continue
        source = debit(ledger.campaign_budget(grant.campaign.id), grant.amount)
        if grant.kind == "resident":
            legs += [source, credit(ledger.resident_points(facts.resident_id), grant.amount)]
            notes.append(f"campaign {grant.campaign.id}: {grant.amount} points")
        else:
            legs += [source, credit(ledger.merchant_payable(facts.merchant_id), grant.amount)]
            notes.append(f"campaign {grant.campaign.id}: ¥{grant.amount} cashback")
    lot = None
    if points and ask.points_rules is not None and not ask.points_rules.deferred:
        lot = PointsLotGrant(
            campaign_id=ask.points_rules.id,
            amount=points,
            expires_at=ask.points_rules.points_expiry(facts.paid_at),
            counterparty=ask.points_rules.name[:80],
        )
    return RewardPlan(
        resident_points=points,
        merchant_cashback=cashback,
        granted=not any(g.campaign.deferred for g in grants),
        legs=tuple(legs),
        memo="; ".join(notes),
        points_lot=lot,
        campaign_id=grants[0].campaign.id,
    )


class CampaignEngine:
    def __init__(self, *, shards: int, refresh_seconds: float = 1.0) -> None:
        self.shards = shards
        self.refresh_seconds = refresh_seconds
        self._campaigns: tuple[CampaignRules, ...] = ()
        self._loaded_at = -1e9
        self._loaded_generation = -1
        self._exhausted: set[int] = set()

    async def approved_campaigns(
        self, session: AsyncSession, now: datetime
    ) -> tuple[CampaignRules, ...]:
        clock = time.monotonic()
        if (
            clock - self._loaded_at > self.refresh_seconds
            or self._loaded_generation != changes_seen()
        ):
            generation = changes_seen()
            rows = (
                await session.execute(
                    select(Campaign).where(Campaign.status == "approved", Campaign.ends_at > now)
                )
            ).scalars()
            self._campaigns = tuple(CampaignRules.of(c) for c in rows)
            self._exhausted.clear()
            self._loaded_at, self._loaded_generation = clock, generation
        return tuple(c for c in self._campaigns if c.id not in self._exhausted)

    # -- payments ---------------------------------------------------------------------------

    async def plan(self, session: AsyncSession, facts: PaymentFacts) -> RewardPlan:
        campaigns = await self.approved_campaigns(session, facts.paid_at)
        if not campaigns:
            return RewardPlan()
        ask = _ask_of(campaigns, facts)
        if ask is None:
            return RewardPlan()
        points, cashback, exhausted = await self._grant_in_database(session, ask)
        await self._ended_by_budget(session, exhausted)
        return _plan_of(ask, points, cashback)

    async def plan_many(
        self, session: AsyncSession, facts: Sequence[PaymentFacts]
    ) -> list[RewardPlan]:
        """:meth:`plan` for each payment, the grants in one ``campaign_grant_batch`` call."""
        plans = [RewardPlan() for _ in facts]
        if not facts:
            return plans
        campaigns = await self.approved_campaigns(session, facts[0].paid_at)
        if not campaigns:
            return plans
        asks = [(i, ask) for i, f in enumerate(facts) if (ask := _ask_of(campaigns, f)) is not None]
        if not asks:
            return plans
        arguments = [self._grant_arguments(ask) for _, ask in asks]
        rows = await _GRANT_BATCH.rows(
            session,
            {
                **{name: [a[name] for a in arguments] for name in _GRANT_ARRAYS},
                "shards": self.shards,
            },
        )
        exhausted: list[int] = []
        for ord_, points, cashback, ended in rows:
            i, ask = asks[int(ord_) - 1]
            plans[i] = _plan_of(ask, int(points), int(cashback))
            exhausted += [int(c) for c in ended if int(c) not in exhausted]
        await self._ended_by_budget(session, exhausted)
        return plans

    async def rehearse(self, session: AsyncSession) -> None:
        await _GRANT_BATCH.rows(
            session, {**{name: [] for name in _GRANT_ARRAYS}, "shards": self.shards}
        )

    async def _ended_by_budget(self, session: AsyncSession, exhausted: Sequence[int]) -> None:
        for campaign_id in exhausted:
            await end_campaign(session, campaign_id, reason="budget", actor_id=None)
            self._exhausted.add(campaign_id)

    async def preview(
        self, session: AsyncSession, facts: PaymentFacts, *, amount_known: bool = True
    ) -> RewardPreview | None:
        """What :meth:`plan` would grant the resident for these facts now: the same offer,
        the same caps against the same tallies, the budget left; nothing is reserved."""
        campaigns = await self.approved_campaigns(session, facts.paid_at)
        if amount_known:
            offer = best_resident_offer(campaigns, facts)
        else:
            offer = best_shop_offer(campaigns, shop_facts_of(facts), facts.paid_at)
        if offer is None:
            return None
        rules = offer.rules
        month, total = await earned_by_resident(
            session, rules, facts.resident_id, tokyo_month(facts.paid_at)
        )
        points: int | None = None
        if amount_known:
            points = capped_resident_points(
                rules,
                share(facts.money_used, offer.rate_bp),
                earned_this_month=month,
                earned_in_campaign=total,
            )
            if points > 0:
                points = min(points, (await remaining_budgets(session, [rules.id]))[rules.id])
        return RewardPreview(
            resident_points=points,
            rate_bp=offer.rate_bp,
            cap_left=caps_left(rules, earned_this_month=month, earned_in_campaign=total),
            campaign_id=rules.id,
            campaign_name=rules.name,
        )

    async def _grant_in_database(
        self, session: AsyncSession, ask: _Ask
    ) -> tuple[int, int, list[int]]:
        """Caps, reservations, tallies and reward rows: one call of ``campaign_grant``."""
        row = await _GRANT.row(session, {**self._grant_arguments(ask), "shards": self.shards})
        assert row is not None
        return int(row[0]), int(row[1]), [int(c) for c in row[2]]

    @staticmethod
    def _grant_arguments(ask: _Ask) -> dict[str, Any]:
        """``campaign_grant``'s arguments for one payment (all but ``shards``)."""
        facts, points_rules, cashback_rules = ask.facts, ask.points_rules, ask.cashback_rules
        return {
            "payment": facts.payment_reference,
            "resident": facts.resident_id,
            "merchant": facts.merchant_id,
            "street": facts.shopping_street_id,
            "category": facts.category,
            "store_type": facts.store_type,
            "district": facts.district_id,
            "amount": facts.amount,
            "paid_at": facts.paid_at,
            "month": ask.month,
            "points_campaign": points_rules.id if points_rules and ask.points else None,
            "points": ask.points,
            "points_deferred": bool(points_rules and points_rules.deferred),
            "monthly_cap": points_rules.per_resident_monthly_cap if points_rules else None,
            "campaign_cap": points_rules.per_resident_cap if points_rules else None,
            "cashback_campaign": (cashback_rules.id if cashback_rules and ask.cashback else None),
            "cashback": ask.cashback,
            "cashback_deferred": bool(cashback_rules and cashback_rules.deferred),
        }

    # -- refunds ----------------------------------------------------------------------------

    async def revoke(self, session: AsyncSession, facts: RefundFacts) -> Revocation:
        """Take back the refunded part's rewards, in proportion (cumulatively rounded, so a
        full refund in parts takes back exactly everything).

        Points still in the reward's lot come back from it; points already spent come out of
        the refunded money; what even that cannot cover is recorded as unrecovered. The
        value goes back to the campaign's budget, or to its breakage once it is closed.
        """
        rewards = list(
            (
                await session.execute(
                    select(CampaignReward)
                    .where(CampaignReward.payment_reference == facts.payment_reference)
                    .order_by(CampaignReward.id)
                    .with_for_update()
                )
            ).scalars()
        )
        if not rewards:
            return Revocation()
        statuses: dict[int, str] = {
            int(c): str(status)
            for c, status in (
                await session.execute(
                    select(Campaign.id, Campaign.status).where(
                        Campaign.id.in_({r.campaign_id for r in rewards})
                    )
                )
            ).all()
        }
        refunded_after = facts.refunded_before + facts.refund_amount
        money_left = facts.money_back
        legs: list[Leg] = []
        notes: list[str] = []
        points_taken = money_taken = unrecovered_total = cashback_taken = 0
        for reward in rewards:
            due = reward.amount * refunded_after // facts.payment_amount
            delta = due - reward.revoked - reward.unrecovered
            if delta <= 0:
                continue
            closed = statuses.get(reward.campaign_id) == "closed"
            if reward.status == "pending":
                # Never granted: the pending grant shrinks and the budget gets it back.
                reward.revoked += delta
                await budget.give_back(
                    session, reward.campaign_id, delta, home=facts.resident_id % self.shards
                )
                if reward.kind == "resident":
                    await take_from_tally(
                        session, reward.campaign_id, reward.resident_id, reward.month, delta
                    )
                notes.append(f"campaign {reward.campaign_id}: pending {reward.kind} -{delta}")
                continue
            if reward.kind == "resident":
                taken, expired = await take_back_from_lot(
                    session,
                    resident_id=reward.resident_id,
                    source_reference=reward.payment_reference,
                    amount=delta,
                    now=facts.at,
                )
                from_money = 0 if expired else min(delta - taken, money_left)
                money_left -= from_money
                unrecovered = delta - taken - from_money
                recovered = taken + from_money
                if taken:
                    legs.append(debit(ledger.resident_points(reward.resident_id), taken))
                if from_money:
                    legs.append(debit(ledger.resident_money(reward.resident_id), from_money))
                points_taken += taken
                money_taken += from_money
                unrecovered_total += unrecovered
                reward.unrecovered += unrecovered
                await take_from_tally(
                    session, reward.campaign_id, reward.resident_id, reward.month, delta
                )
                notes.append(
                    f"campaign {reward.campaign_id}: points -{delta}"
                    f" ({taken} from points, {from_money} from money, {unrecovered} unrecovered)"
                )
            else:
                recovered = delta
                legs.append(debit(ledger.merchant_payable(reward.merchant_id), delta))
                cashback_taken += delta
                notes.append(f"campaign {reward.campaign_id}: cashback -¥{delta}")
            reward.revoked += recovered
            if not recovered:
                continue
            if closed:
                breakage = ledger.campaign_breakage(reward.campaign_id)
                await ledger.open_account(session, breakage)
                legs.append(credit(breakage, recovered))
            else:
                legs.append(credit(ledger.campaign_budget(reward.campaign_id), recovered))
                await budget.give_back(
                    session, reward.campaign_id, recovered, home=facts.resident_id % self.shards
                )
        return Revocation(
            points_taken=points_taken,
            money_taken=money_taken,
            unrecovered=unrecovered_total,
            cashback_taken=cashback_taken,
            legs=tuple(legs),
            memo="rewards revoked: " + "; ".join(notes) if notes else None,
        )


def shop_facts_of(facts: PaymentFacts) -> ShopFacts:
    return ShopFacts(
        shopping_street_id=facts.shopping_street_id,
        category=facts.category,
        store_type=facts.store_type,
        district_id=facts.district_id,
    )


async def earned_by_resident(
    session: AsyncSession, rules: CampaignRules, resident_id: int, month: str
) -> tuple[int, int]:
    """Points the resident earned from the campaign this month and in all (what its caps
    count; a campaign without caps keeps no tally and reads nothing)."""
    if rules.per_resident_monthly_cap is None and rules.per_resident_cap is None:
        return 0, 0
    row = (
        await session.execute(
            select(
                func.coalesce(
                    func.sum(ResidentTally.amount).filter(ResidentTally.month == month), 0
                ),
                func.coalesce(func.sum(ResidentTally.amount), 0),
            ).where(ResidentTally.campaign_id == rules.id, ResidentTally.resident_id == resident_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def take_from_tally(
    session: AsyncSession, campaign_id: int, resident_id: int, month: str, amount: int
) -> None:
    """Revoked points no longer count towards the caps (campaigns without caps keep no
    tally, and this changes nothing)."""
    await session.execute(
        update(ResidentTally)
        .where(
            ResidentTally.campaign_id == campaign_id,
            ResidentTally.resident_id == resident_id,
            ResidentTally.month == month,
        )
        .values(amount=ResidentTally.amount - amount)
        .execution_options(synchronize_session=False)
    )
