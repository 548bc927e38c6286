"""Which campaign rewards a payment, at what rate, and how much after the caps.

Pure functions over frozen snapshots of approved campaigns, so the payment path reads no
campaign row: the engine keeps the snapshots in memory for a second at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns.models import Campaign
from machipay.timeutil import as_utc, to_tokyo, tokyo_day_start
from payments import PaymentFacts

BASIS_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class Tier:
    store_type: str
    in_shopping_street: bool | None  # None: whether or not the shop belongs to a 商店街
    resident_rate_bp: int


@dataclass(frozen=True, slots=True)
class CampaignRules:
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    resident_rate_bp: int
    merchant_rate_bp: int
    tiers: tuple[Tier, ...]
    shopping_street_ids: frozenset[int]
    categories: frozenset[str]
    store_types: frozenset[str]
    district_ids: frozenset[str]
    min_payment: int
    per_payment_cap: int | None
    per_resident_cap: int | None
    per_resident_monthly_cap: int | None
    deferred: bool
    points_expiry_days: int

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignRules:
        eligibility = campaign.eligibility or {}
        return cls(
            id=campaign.id,
            name=campaign.name,
            starts_at=as_utc(campaign.starts_at),
            ends_at=as_utc(campaign.ends_at),
            resident_rate_bp=campaign.resident_rate_bp,
            merchant_rate_bp=campaign.merchant_rate_bp,
            tiers=tuple(
                Tier(t["store_type"], t.get("in_shopping_street"), int(t["resident_rate_bp"]))
                for t in campaign.tiers or []
            ),
            shopping_street_ids=frozenset(
                int(s) for s in eligibility.get("shopping_street_ids", [])
            ),
            categories=frozenset(eligibility.get("categories", [])),
            store_types=frozenset(eligibility.get("store_types", [])),
            district_ids=frozenset(eligibility.get("district_ids", [])),
            min_payment=campaign.min_payment,
            per_payment_cap=campaign.per_payment_cap,
            per_resident_cap=campaign.per_resident_cap,
            per_resident_monthly_cap=campaign.per_resident_monthly_cap,
            deferred=campaign.grant_timing == "deferred",
            points_expiry_days=campaign.points_expiry_days,
        )

    def covers(self, facts: PaymentFacts) -> bool:
        """The payment falls in the window, at an eligible shop, and is large enough."""
        return (
            self.running_at(facts.paid_at)
            and facts.amount >= self.min_payment
            and self.covers_shop(
                facts.shopping_street_id, facts.category, facts.store_type, facts.district_id
            )
        )

    def running_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at

    def covers_shop(
        self,
        shopping_street_id: int | None,
        category: str,
        store_type: str,
        district_id: str | None,
    ) -> bool:
        return (
            _allowed(self.shopping_street_ids, shopping_street_id)
            and _allowed(self.categories, category)
            and _allowed(self.store_types, store_type)
            and _allowed(self.district_ids, district_id)
        )

    def resident_rate_for(self, facts: PaymentFacts) -> int:
        return self.resident_rate_at(facts.store_type, facts.shopping_street_id is not None)

    def resident_rate_at(self, store_type: str, in_street: bool) -> int:
        """The tier for the shop's store type (one that names 商店街 membership beats one that
        does not), else the campaign's base rate."""
        general: Tier | None = None
        for tier in self.tiers:
            if tier.store_type != store_type:
                continue
            if tier.in_shopping_street is None:
                general = general or tier
            elif tier.in_shopping_street == in_street:
                return tier.resident_rate_bp
        return general.resident_rate_bp if general else self.resident_rate_bp

    def points_expiry(self, granted_at: datetime) -> datetime:
        """Points last the campaign's number of days, to the end of that day in Tokyo."""
        return tokyo_day_start(granted_at) + timedelta(days=self.points_expiry_days + 1)


def _allowed(allowed: frozenset[int] | frozenset[str], value: int | str | None) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True, slots=True)
class Offer:
    rules: CampaignRules
    rate_bp: int


def best_resident_offer(campaigns: Iterable[CampaignRules], facts: PaymentFacts) -> Offer | None:
    """The highest resident rate among the campaigns covering the payment; the lowest
    campaign id wins a tie, so the same payment always gets the same answer."""
    return _best_resident_rate(
        (rules, rules.resident_rate_for(facts)) for rules in campaigns if rules.covers(facts)
    )


@dataclass(frozen=True, slots=True)
class ShopFacts:
    """What a campaign looks at in a shop, before any payment (the directory's badge)."""

    shopping_street_id: int | None
    category: str
    store_type: str
    district_id: str | None


def best_shop_offer(
    campaigns: Iterable[CampaignRules], shop: ShopFacts, at: datetime
) -> Offer | None:
    """The resident rate a payment at this shop would earn now (if it reaches the
    campaign's minimum payment): the same choice as :func:`best_resident_offer`."""
    return _best_resident_rate(
        (rules, rules.resident_rate_at(shop.store_type, shop.shopping_street_id is not None))
        for rules in campaigns
        if rules.running_at(at)
        and rules.covers_shop(
            shop.shopping_street_id, shop.category, shop.store_type, shop.district_id
        )
    )


def _best_resident_rate(candidates: Iterable[tuple[CampaignRules, int]]) -> Offer | None:
    best: Offer | None = None
    for rules, rate in candidates:
        if rate > 0 and (best is None or (rate, -rules.id) > (best.rate_bp, -best.rules.id)):
            best = Offer(rules, rate)
    return best


def best_merchant_offer(campaigns: Iterable[CampaignRules], facts: PaymentFacts) -> Offer | None:
    best: Offer | None = None
    for rules in campaigns:
        rate = rules.merchant_rate_bp
        if rate <= 0 or not rules.covers(facts):
            continue
        if best is None or (rate, -rules.id) > (best.rate_bp, -best.rules.id):
            best = Offer(rules, rate)
    return best


def share(amount: int, rate_bp: int) -> int:
    """A rate applied to yen, rounded down to the whole yen (or point)."""
    return amount * rate_bp // BASIS_POINTS


def capped_resident_points(
    rules: CampaignRules, points: int, *, earned_this_month: int, earned_in_campaign: int
) -> int:
    """Caps in order: per payment → per resident per month → per resident for the campaign.
    (The remaining budget comes last, when the points are reserved.)"""
    if rules.per_payment_cap is not None:
        points = min(points, rules.per_payment_cap)
    if rules.per_resident_monthly_cap is not None:
        points = min(points, max(0, rules.per_resident_monthly_cap - earned_this_month))
    if rules.per_resident_cap is not None:
        points = min(points, max(0, rules.per_resident_cap - earned_in_campaign))
    return points


def caps_left(
    rules: CampaignRules, *, earned_this_month: int, earned_in_campaign: int
) -> int | None:
    """Points the resident may still earn from the campaign (the tighter of the monthly
    and the whole-campaign cap); None when neither caps them."""
    left = [
        max(0, cap - earned)
        for cap, earned in (
            (rules.per_resident_monthly_cap, earned_this_month),
            (rules.per_resident_cap, earned_in_campaign),
        )
        if cap is not None
    ]
    return min(left) if left else None


def tokyo_month(moment: datetime) -> str:
    return to_tokyo(moment).strftime("%Y-%m")
