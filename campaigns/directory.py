"""What runs now, for residents: the directory's "campaign now" badges and filter, and the
キャンペーン screen (what, where, until when, how much of my cap is left).

Every answer comes from the rules the payment itself uses (:mod:`campaigns.rules`), on the
engine's snapshot of approved campaigns, so a badge never promises a rate a payment would
not get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.engine import CampaignEngine, earned_by_resident
from campaigns.rules import CampaignRules, Offer, ShopFacts, best_shop_offer, caps_left, tokyo_month
from merchant_api import STORE_TYPES, DirectoryPage, DirectoryQuery, DirectoryShop, ShopCriteria
from merchant_api import search_shops as search_directory


async def running_campaigns(
    session: AsyncSession, engine: CampaignEngine, now: datetime
) -> list[CampaignRules]:
    """Approved campaigns inside their window now (soonest to end first)."""
    campaigns = await engine.approved_campaigns(session, now)
    return sorted((c for c in campaigns if c.running_at(now)), key=lambda c: (c.ends_at, c.id))


def rewarded_shops(rules: CampaignRules) -> list[ShopCriteria]:
    """The shops a campaign gives residents points at, as directory criteria: its eligibility,
    split by store type and 商店街 membership wherever a tier sets the rate to zero."""
    criteria: list[ShopCriteria] = []
    for store_type in STORE_TYPES:
        if rules.store_types and store_type not in rules.store_types:
            continue
        for in_street in (True, False):
            if not in_street and rules.shopping_street_ids:
                continue  # the campaign names streets: a shop outside every street is out
            if rules.resident_rate_at(store_type, in_street) <= 0:
                continue
            criteria.append(
                ShopCriteria(
                    shopping_street_ids=frozenset(rules.shopping_street_ids),
                    categories=frozenset(rules.categories),
                    store_types=frozenset({store_type}),
                    district_ids=frozenset(rules.district_ids),
                    in_shopping_street=in_street,
                )
            )
    return criteria


@dataclass(frozen=True, slots=True)
class ShopWithOffer:
    shop: DirectoryShop
    offer: Offer | None


async def find_shops(
    session: AsyncSession,
    engine: CampaignEngine,
    query: DirectoryQuery,
    *,
    campaign: int | bool | None,
    now: datetime,
) -> tuple[list[ShopWithOffer], int | None]:
    """A directory page, each shop with the best resident rate it gives now.

    ``campaign``: False, any shop; True, shops some running campaign rewards; an id, shops
    that campaign rewards.
    """
    running = await running_campaigns(session, engine, now)
    if campaign is True:
        query = _covered_by(query, running)
    elif campaign is not False and campaign is not None:
        query = _covered_by(query, [c for c in running if c.id == campaign])
    page: DirectoryPage = await search_directory(session, query)
    return [
        ShopWithOffer(shop, best_shop_offer(running, _facts(shop), now)) for shop in page.shops
    ], page.next_after_id


def _covered_by(query: DirectoryQuery, campaigns: list[CampaignRules]) -> DirectoryQuery:
    criteria = [c for rules in campaigns for c in rewarded_shops(rules)]
    return DirectoryQuery(
        text=query.text,
        category=query.category,
        shopping_street_id=query.shopping_street_id,
        district_id=query.district_id,
        covered_by=criteria,
        after_id=query.after_id,
        limit=query.limit,
    )


def _facts(shop: DirectoryShop) -> ShopFacts:
    return ShopFacts(
        shopping_street_id=shop.shopping_street_id,
        category=shop.category,
        store_type=shop.store_type,
        district_id=shop.district_id,
    )


async def caps_left_for(
    session: AsyncSession, campaigns: list[CampaignRules], resident_id: int, now: datetime
) -> dict[int, int | None]:
    """Per campaign, the points this resident may still earn from it (None: no cap)."""
    month = tokyo_month(now)
    left: dict[int, int | None] = {}
    for rules in campaigns:
        earned_month, earned_total = await earned_by_resident(session, rules, resident_id, month)
        left[rules.id] = caps_left(
            rules, earned_this_month=earned_month, earned_in_campaign=earned_total
        )
    return left
