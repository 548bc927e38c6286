"""Before a campaign, what it may cost; after it, what it did (DESIGN.md 5).

Both read aggregated spend only, per shop, and show streets (商店街) only when enough
distinct residents stand behind a figure (``MACHIPAY_ANALYTICS_MIN_RESIDENTS``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from analytics.disclosure import ShopSpread, Thresholds, suppressed
from analytics.effect import campaign_effect, weekly_cells
from campaigns import budget
from campaigns.models import Campaign
from campaigns.rules import CampaignRules, share
from campaigns.service import reward_totals
from campaigns.status import live_status
from machipay.timeutil import as_utc, to_tokyo
from machipay.ward import list_shopping_streets
from merchant_api import MerchantView, active_merchant_views
from wallet_api import PaymentFacts, distinct_payers, new_to_shop, spend_by_merchant

BASELINE_DAYS = 28


async def _eligibility(
    session: AsyncSession, rules: CampaignRules
) -> Callable[[int | None, str, str], bool]:
    """Whether the campaign covers a shop of this street, category and store type (a shop's
    district is its street's)."""
    district_of = {s.id: s.district_id for s in await list_shopping_streets(session)}

    def covers(street_id: int | None, category: str, store_type: str) -> bool:
        district = district_of.get(street_id) if street_id is not None else None
        return rules.covers_shop(street_id, category, store_type, district)

    return covers


async def _eligible_shops(session: AsyncSession, rules: CampaignRules) -> dict[int, MerchantView]:
    return {
        shop.id: shop
        for shop in await active_merchant_views(session)
        if rules.covers_shop(
            shop.shopping_street_id, shop.category, shop.store_type, shop.district_id
        )
    }


async def estimate(
    session: AsyncSession, campaign: Campaign, *, now: datetime, uplift_percent: int = 0
) -> dict[str, Any]:
    """Project the campaign's cost from the last four weeks of analytics facts at the shops
    it covers: each week's money spend paid back at the rate its store type's tier gives
    (the per-payment cap applied to each cell's average ticket), plus the merchant rate on
    all spend, scaled to the campaign's window. The expected cost uses the average week
    and the uplift; the range runs from the quietest week without uplift to the busiest
    with it. Resident caps and the minimum payment are not modelled: an upper bound for
    the spend assumed."""
    rules = CampaignRules.of(campaign)
    base_end = min(now, rules.starts_at)
    end_day = to_tokyo(base_end).date()
    covers = await _eligibility(session, rules)
    window_days = (rules.ends_at - rules.starts_at).total_seconds() / 86_400
    weeks_in_window = window_days / 7
    lift = (100 + uplift_percent) / 100
    weekly: list[dict[str, int]] = []
    for week in await weekly_cells(session, end_day, BASELINE_DAYS // 7):
        spend = points = cashback = 0
        for cell in week:
            if not covers(cell.shopping_street_id, cell.category, cell.store_type):
                continue
            facts = PaymentFacts(
                payment_reference="estimate",
                resident_id=0,
                merchant_id=0,
                shopping_street_id=cell.shopping_street_id,
                district_id=None,
                category=cell.category,
                store_type=cell.store_type,
                amount=cell.spend // max(1, cell.payments),
                points_used=0,
                money_used=cell.money // max(1, cell.payments),
                paid_at=rules.starts_at,
            )
            cell_points = share(max(0, cell.money), rules.resident_rate_for(facts))
            if rules.per_payment_cap is not None:
                cell_points = min(cell_points, rules.per_payment_cap * cell.payments)
            spend += cell.spend
            points += cell_points
            cashback += share(max(0, cell.spend), rules.merchant_rate_bp)
        weekly.append({"spend": spend, "points": points, "cashback": cashback})
    mean = {k: sum(w[k] for w in weekly) / len(weekly) for k in ("spend", "points", "cashback")}
    costs = [w["points"] + w["cashback"] for w in weekly]
    scale = weeks_in_window * lift
    cost = round((mean["points"] + mean["cashback"]) * scale)
    low = round(min(costs) * weeks_in_window)
    high = round(max(costs) * scale)
    daily = cost / window_days if window_days else 0
    return {
        "campaign_id": campaign.id,
        "baseline": {
            "from": (end_day - timedelta(days=BASELINE_DAYS)).isoformat(),
            "to": end_day.isoformat(),
            "days": BASELINE_DAYS,
        },
        "eligible_shops": len(await _eligible_shops(session, rules)),
        "baseline_spend": sum(w["spend"] for w in weekly),
        "weekly_eligible_spend": [w["spend"] for w in weekly],
        "uplift_percent": uplift_percent,
        "expected_spend": round(mean["spend"] * scale),
        "expected_resident_points": round(mean["points"] * scale),
        "expected_merchant_cashback": round(mean["cashback"] * scale),
        "expected_cost": cost,
        "expected_cost_range": [low, high],
        "budget": campaign.budget,
        "budget_covers_expected_cost": cost <= campaign.budget,
        "budget_lasts_days": round(campaign.budget / daily, 1) if daily else None,
        "method": (
            "the last four weeks of facts at the shops the campaign covers, scaled to its"
            " window: resident rate by tier on money spend (per-payment cap on each cell's"
            " average ticket) plus the merchant rate; expected = average week with the"
            " uplift, range = quietest week without uplift to busiest week with it; resident"
            " caps and minimum payment not modelled (an upper bound)"
        ),
    }


async def effect_report(
    session: AsyncSession, campaign: Campaign, *, now: datetime, rules_of_disclosure: Thresholds
) -> dict[str, Any]:
    """Spend and payments at eligible shops during the campaign against the same length of
    time just before it, by street; residents new to a shop; budget used; cost per yen of
    uplift. Final once the campaign is closed."""
    rules = CampaignRules.of(campaign)
    min_residents = rules_of_disclosure.min_residents
    ended = as_utc(campaign.ended_at) if campaign.ended_at else rules.ends_at
    window_end = max(rules.starts_at, min(now, ended, rules.ends_at))
    length = window_end - rules.starts_at
    base_start = rules.starts_at - length
    shops = await _eligible_shops(session, rules)
    during = {
        s.merchant_id: s for s in await spend_by_merchant(session, rules.starts_at, window_end)
    }
    before = {
        s.merchant_id: s for s in await spend_by_merchant(session, base_start, rules.starts_at)
    }
    by_street: dict[int | None, list[int]] = defaultdict(list)
    for shop in shops.values():
        by_street[shop.shopping_street_id].append(shop.id)
    names = {shop.shopping_street_id: shop.shopping_street for shop in shops.values()}
    rows: list[dict[str, Any]] = []
    hidden = 0
    for street_id, ids in sorted(by_street.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        residents = await distinct_payers(session, ids, rules.starts_at, window_end)
        shops_spend = [during[i].amount for i in ids if i in during]
        row: dict[str, Any] = {
            "shopping_street_id": street_id,
            "name": names.get(street_id),
            # The same rules as the analysts' answers: k residents and the dominance rule.
            "suppressed": suppressed(residents, ShopSpread.of(shops_spend), rules_of_disclosure),
        }
        if row["suppressed"]:
            hidden += 1
            row.update(spend=None, payments=None, baseline_spend=None, baseline_payments=None)
        else:
            row.update(
                spend=sum(during[i].amount for i in ids if i in during),
                payments=sum(during[i].payments for i in ids if i in during),
                baseline_spend=sum(before[i].amount for i in ids if i in before),
                baseline_payments=sum(before[i].payments for i in ids if i in before),
            )
        rows.append(row)
    spend = sum(s.amount for i, s in during.items() if i in shops)
    baseline = sum(s.amount for i, s in before.items() if i in shops)
    totals = (await reward_totals(session, [campaign.id]))[campaign.id]
    cost = totals.resident_points + totals.merchant_cashback
    uplift = spend - baseline
    remaining = (await budget.remaining_budgets(session, [campaign.id]))[campaign.id]
    status = live_status(campaign, now)
    effect = await campaign_effect(
        session,
        start=to_tokyo(rules.starts_at).date(),
        end=to_tokyo(window_end).date(),
        eligible=await _eligibility(session, rules),
        min_residents=min_residents,
    )
    did = effect.get("did")
    if did and did["uplift_total"] > 0:
        # What each yen the campaign added cost, against the uplift net of the ward's trend.
        did["cost_per_yen_of_uplift"] = round(cost / did["uplift_total"], 3)
    return {
        "campaign_id": campaign.id,
        "status": status,
        "final": status == "closed",
        "period": {"from": to_tokyo(rules.starts_at), "to": to_tokyo(window_end)},
        "baseline": {"from": to_tokyo(base_start), "to": to_tokyo(rules.starts_at)},
        "eligible_shops": len(shops),
        "spend": spend,
        "baseline_spend": baseline,
        "payments": sum(s.payments for i, s in during.items() if i in shops),
        "baseline_payments": sum(s.payments for i, s in before.items() if i in shops),
        "uplift": uplift,
        "uplift_percent": round(uplift * 100 / baseline, 1) if baseline else None,
        "new_to_shop": await new_to_shop(session, list(shops), rules.starts_at, window_end),
        "budget": campaign.budget,
        "budget_used": cost,
        "budget_remaining": remaining,
        "resident_points": totals.resident_points,
        "merchant_cashback": totals.merchant_cashback,
        "pending_grants": totals.pending,
        "unrecovered_revocations": totals.unrecovered,
        "cost_per_yen_of_uplift": round(cost / uplift, 3) if uplift > 0 else None,
        "by_shopping_street": rows,
        "difference_in_differences": effect,
        "suppressed": hidden,
        "min_residents": min_residents,
    }
