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

from analytics.campaign_disclosure import (
    HIDDEN_WITH_A_SIBLING,
    TOO_FEW_RESIDENTS,
    Group,
    count,
    hidden_because,
    reason_code,
    yen,
)
from analytics.disclosure import Thresholds, complementary
from analytics.effect import DayCell, campaign_effect, group_of, weekly_cells
from campaigns import (
    Campaign,
    CampaignRules,
    live_status,
    remaining_budgets,
    reward_totals,
    reward_totals_by,
    rewards_by_resident_and_shop,
    share,
)
from machipay.errors import Conflict
from machipay.timeutil import as_utc, to_tokyo
from merchant_api import MerchantView, active_merchant_views
from payments import (
    MerchantSpend,
    PaymentFacts,
    distinct_payers,
    new_to_shop,
    spend_by_merchant,
)
from ward import list_shopping_streets

BASELINE_DAYS = 28


class CampaignReportUnavailable(Conflict):
    """A campaign nobody approved yet can be edited at will (its window, its shops): a
    report on it would be a free query of any shop's takings."""

    type_slug = "campaign-report-unavailable"
    title = "Effect reports are for approved campaigns only"


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


def _covered_cell(
    covers: Callable[[int | None, str, str], bool],
) -> Callable[[DayCell], bool]:
    return lambda cell: covers(cell.shopping_street_id, cell.category, cell.store_type)


async def estimate(
    session: AsyncSession,
    campaign: Campaign,
    *,
    now: datetime,
    rules_of_disclosure: Thresholds,
    uplift_percent: int = 0,
) -> dict[str, Any]:
    """Project the campaign's cost from the last four weeks of analytics facts at the shops
    it covers: each week's money spend paid back at the rate its store type's tier gives
    (the per-payment cap applied to each cell's average ticket), plus the merchant rate on
    all spend, scaled to the campaign's window. The expected cost uses the average week
    and the uplift; the range runs from the quietest week without uplift to the busiest
    with it. Resident caps and the minimum payment are not modelled: an upper bound for
    the spend assumed. Every figure drawn from the facts follows the analysts' rules
    (``analytics.campaign_disclosure``): hidden ones are null, with ``suppressed`` and
    ``reason``."""
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
    # The analysts' rules: every figure here is the eligible shops' takings, scaled. The
    # four weeks as one group, then each week (the range shows the quietest and busiest).
    start_day = end_day - timedelta(days=BASELINE_DAYS)
    hidden = hidden_because(
        Group(*await group_of(session, start_day, end_day, _covered_cell(covers))),
        rules_of_disclosure,
    )
    hidden_week = hidden
    for number in range(BASELINE_DAYS // 7):
        first = start_day + timedelta(days=7 * number)
        hidden_week = hidden_week or hidden_because(
            Group(
                *await group_of(session, first, first + timedelta(days=7), _covered_cell(covers))
            ),
            rules_of_disclosure,
        )
    cost = yen(round((mean["points"] + mean["cashback"]) * scale), hidden)
    low = yen(round(min(costs) * weeks_in_window), hidden_week)
    high = yen(round(max(costs) * scale), hidden_week)
    daily = cost / window_days if cost is not None and window_days else 0
    return {
        "campaign_id": campaign.id,
        "baseline": {
            "from": start_day.isoformat(),
            "to": end_day.isoformat(),
            "days": BASELINE_DAYS,
        },
        "eligible_shops": len(await _eligible_shops(session, rules)),
        "suppressed": hidden is not None,
        "reason": hidden,
        "min_residents": rules_of_disclosure.min_residents,
        "baseline_spend": yen(sum(w["spend"] for w in weekly), hidden),
        "weekly_eligible_spend": [yen(w["spend"], hidden_week) for w in weekly],
        "uplift_percent": uplift_percent,
        "expected_spend": yen(round(mean["spend"] * scale), hidden),
        "expected_resident_points": yen(round(mean["points"] * scale), hidden),
        "expected_merchant_cashback": yen(round(mean["cashback"] * scale), hidden),
        "expected_cost": cost,
        "expected_cost_range": None if low is None or high is None else [low, high],
        "budget": campaign.budget,
        "budget_covers_expected_cost": None if cost is None else cost <= campaign.budget,
        "budget_lasts_days": round(campaign.budget / daily, 1) if daily else None,
        "method": (
            "the last four weeks of facts at the shops the campaign covers, scaled to its"
            " window: resident rate by tier on money spend (per-payment cap on each cell's"
            " average ticket) plus the merchant rate; expected = average week with the"
            " uplift, range = quietest week without uplift to busiest week with it; resident"
            " caps and minimum payment not modelled (an upper bound)"
        ),
    }


async def _group(
    session: AsyncSession,
    ids: list[int],
    spend: dict[int, MerchantSpend],
    start: datetime,
    end: datetime,
) -> Group:
    return Group.of(
        await distinct_payers(session, ids, start, end),
        [spend[i].amount for i in ids if i in spend],
    )


async def effect_report(
    session: AsyncSession, campaign: Campaign, *, now: datetime, rules_of_disclosure: Thresholds
) -> dict[str, Any]:
    """Spend and payments at eligible shops during the campaign against the same length of
    time just before it, by street; residents new to a shop; budget used; cost per yen of
    uplift. Final once the campaign is closed.

    Only for approved campaigns: a draft's window and shops are whatever its author typed,
    so a report on it would read any shop's takings. Every figure about residents' spending
    follows the analysts' rules (``analytics.campaign_disclosure``); a hidden one is null,
    with its reason in ``suppressed_figures``. The budget figures are the ward's own
    accounts, shown exactly as on the campaign itself."""
    if campaign.approved_at is None:
        raise CampaignReportUnavailable(
            "This campaign is not approved yet: its report opens once it is."
        )
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
    cells: dict[tuple[int | None], dict[str, Any]] = {}
    why_hidden: dict[tuple[int | None], str] = {}
    for street_id, ids in sorted(by_street.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        reasons = [
            hidden_because(await _group(session, ids, spend, start, end), rules_of_disclosure)
            for spend, start, end in (
                (during, rules.starts_at, window_end),
                (before, base_start, rules.starts_at),
            )
        ]
        # Too few residents outweighs a dominant shop: it is the first rule that fails.
        reason = next((r for r in reasons if r == TOO_FEW_RESIDENTS), None) or next(
            (r for r in reasons if r), None
        )
        if reason:
            why_hidden[(street_id,)] = reason
        cells[(street_id,)] = {
            "spend": sum(during[i].amount for i in ids if i in during),
            "payments": sum(during[i].payments for i in ids if i in during),
            "baseline_spend": sum(before[i].amount for i in ids if i in before),
            "baseline_payments": sum(before[i].payments for i in ids if i in before),
        }
    # The streets add up to the headline figures: one hidden street alone could be had
    # back by subtraction, so its smallest visible sibling is hidden with it.
    for key in complementary(list(cells), set(why_hidden), 1, size=lambda k: cells[k]["spend"]):
        why_hidden.setdefault(key, HIDDEN_WITH_A_SIBLING)
    rows: list[dict[str, Any]] = []
    for key, cell in cells.items():
        street_id = key[0]
        why = why_hidden.get(key)
        row: dict[str, Any] = {
            "shopping_street_id": street_id,
            "name": names.get(street_id),
            "suppressed": why is not None,
            "suppressed_reason": reason_code(why),
        }
        row.update(
            spend=yen(cell["spend"], why),
            payments=count(cell["payments"], why),
            baseline_spend=yen(cell["baseline_spend"], why),
            baseline_payments=count(cell["baseline_payments"], why),
        )
        rows.append(row)
    ids = list(shops)
    hidden_during = hidden_because(
        await _group(session, ids, during, rules.starts_at, window_end), rules_of_disclosure
    )
    hidden_before = hidden_because(
        await _group(session, ids, before, base_start, rules.starts_at), rules_of_disclosure
    )
    hidden_either = hidden_during or hidden_before
    spend = sum(s.amount for i, s in during.items() if i in shops)
    baseline = sum(s.amount for i, s in before.items() if i in shops)
    newcomers = await new_to_shop(session, ids, rules.starts_at, window_end)
    # A count of residents is itself a figure about them: fewer than k, not shown.
    hidden_new = hidden_during or (TOO_FEW_RESIDENTS if newcomers < min_residents else None)
    totals = (await reward_totals(session, [campaign.id]))[campaign.id]
    cost = totals.resident_points + totals.merchant_cashback
    uplift = spend - baseline
    remaining = (await remaining_budgets(session, [campaign.id]))[campaign.id]
    status = live_status(campaign, now)
    effect = await campaign_effect(
        session,
        start=to_tokyo(rules.starts_at).date(),
        end=to_tokyo(window_end).date(),
        eligible=await _eligibility(session, rules),
        rules=rules_of_disclosure,
    )
    did = effect.get("did")
    if did and did["uplift_total"] > 0:
        # What each yen the campaign added cost, against the uplift net of the ward's trend.
        did["cost_per_yen_of_uplift"] = round(cost / did["uplift_total"], 3)
    hidden_figures = {
        "spend": hidden_during,
        "payments": hidden_during,
        "baseline_spend": hidden_before,
        "baseline_payments": hidden_before,
        "uplift": hidden_either,
        "uplift_percent": hidden_either,
        "cost_per_yen_of_uplift": hidden_either,
        "new_to_shop": hidden_new,
    }
    return {
        "campaign_id": campaign.id,
        "status": status,
        "final": status == "closed",
        "period": {"from": to_tokyo(rules.starts_at), "to": to_tokyo(window_end)},
        "baseline": {"from": to_tokyo(base_start), "to": to_tokyo(rules.starts_at)},
        "eligible_shops": len(shops),
        "spend": yen(spend, hidden_during),
        "baseline_spend": yen(baseline, hidden_before),
        "payments": count(sum(s.payments for i, s in during.items() if i in shops), hidden_during),
        "baseline_payments": count(
            sum(s.payments for i, s in before.items() if i in shops), hidden_before
        ),
        "uplift": yen(uplift, hidden_either),
        "uplift_percent": (
            round(uplift * 100 / baseline, 1) if baseline and not hidden_either else None
        ),
        "new_to_shop": count(newcomers, hidden_new),
        "budget": campaign.budget,
        "budget_used": cost,
        "budget_remaining": remaining,
        "resident_points": totals.resident_points,
        "merchant_cashback": totals.merchant_cashback,
        "pending_grants": totals.pending,
        "unrecovered_revocations": totals.unrecovered,
        "cost_per_yen_of_uplift": (
            round(cost / uplift, 3) if uplift > 0 and not hidden_either else None
        ),
        "by_shopping_street": rows,
        "difference_in_differences": effect,
        "suppressed": len(why_hidden),
        "suppressed_figures": {k: v for k, v in hidden_figures.items() if v},
        "suppressed_figure_reasons": {
            k: reason_code(v) for k, v in hidden_figures.items() if v is not None
        },
        "new_to_shop_unit": "residents",
        "min_residents": min_residents,
    }


async def disclosed_reward_totals(
    session: AsyncSession, campaign_id: int, by: str, rules_of_disclosure: Thresholds
) -> list[dict[str, Any]]:
    """Rewards granted so far per street, category or store type, each row under the
    analysts' rules: the residents rewarded and the shops the rewards went through. The
    rows add up to the campaign's totals, shown elsewhere: one hidden row alone would come
    back by subtraction, so its smallest visible sibling is hidden with it."""
    people: dict[str | None, set[int]] = defaultdict(set)
    shops: dict[str | None, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for key, resident, merchant, amount in await rewards_by_resident_and_shop(
        session, campaign_id, by
    ):
        people[key].add(resident)
        shops[key][merchant] += amount
    rows = await reward_totals_by(session, campaign_id, by)
    sums = {(key,): (n, p, c) for key, n, p, c in rows}
    why_hidden: dict[tuple[str | None], str] = {}
    for key, *_ in rows:
        reason = hidden_because(
            Group.of(len(people[key]), shops[key].values()), rules_of_disclosure
        )
        if reason:
            why_hidden[(key,)] = reason
    for sibling in complementary(
        list(sums), set(why_hidden), 1, size=lambda k: sums[k][1] + sums[k][2]
    ):
        why_hidden.setdefault(sibling, HIDDEN_WITH_A_SIBLING)
    out: list[dict[str, Any]] = []
    for (key,), (n, p, c) in sums.items():
        why = why_hidden.get((key,))
        out.append(
            {
                "key": key,
                "payments": count(n, why),
                "resident_points": yen(p, why),
                "merchant_cashback": yen(c, why),
                "suppressed": why is not None,
                "suppressed_reason": reason_code(why),
            }
        )
    return out
