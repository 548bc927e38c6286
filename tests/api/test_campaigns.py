"""Campaigns through the real API: the worked example, tiers, eligibility, caps, budget,
deferred grants, refunds that revoke rewards, expiry, maker-checker, the admin views."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

import ledger
from analytics.campaign_reports import disclosed_reward_totals, effect_report
from analytics.disclosure import Thresholds, round_count, round_yen
from campaigns.service import get_campaign
from ledger.models import Account, Posting
from machipay.auth import Role
from machipay.settings import Settings
from machipay.timeutil import to_tokyo, utcnow
from payments.models import Payment
from tests.analytics.facts import fact, store_facts
from tests.api.campaign_kit import Ward, balance, iso, open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import staff_token, sticker_payload
from tests.api.test_payments import give_points, money_points, pay
from tests.test_cli import run_cli
from wallet_api.models import PointsLot

PROBLEM = "application/problem+json"


@pytest.fixture
def grant_deferred(database_url: str, app_settings: Settings) -> Callable[[], None]:
    """``machipay grant-deferred`` through its real entry point, on the run's database."""

    def run() -> None:
        done = run_cli(
            "grant-deferred", database_url=database_url, redis_url=app_settings.redis_url
        )
        assert done.returncode == 0, done.stderr

    return run


@pytest.fixture
async def ward(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[Ward]:
    ward = await open_ward(client, app)
    yield ward
    await ward.end_all()


async def funded_resident(client: httpx.AsyncClient, money: int = 50_000) -> ResidentHandle:
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, money)).status_code == 200
    return resident


async def paid(
    client: httpx.AsyncClient, resident: ResidentHandle, payload: str, amount: int
) -> dict[str, Any]:
    response = await pay(client, resident, payload, amount)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def entry_legs(app: FastAPI, reference: str) -> list[tuple[str, int]]:
    async with app.state.sessionmaker() as session:
        entry_id = (
            await session.execute(select(Payment.entry_id).where(Payment.reference == reference))
        ).scalar_one()
        rows = await session.execute(
            select(Account.code, Posting.amount)
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.entry_id == entry_id)
        )
        return sorted((code, int(amount)) for code, amount in rows)


# -- the worked example of DESIGN.md 3.2 --------------------------------------------------


async def test_worked_example_to_the_yen(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(budget=100_000, points_expiry_days=60)
    assert campaign["status"] == "active"
    assert campaign["budget_remaining"] == 100_000
    shop = await ward.shop()
    resident = await funded_resident(client, 5_000)
    await give_points(app, resident, 200)

    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)

    assert payment["paid_with"] == {"points": 200, "money": 800}
    assert payment["rewards"] == {"resident_points": 240, "merchant_cashback": 50, "granted": True}
    assert await money_points(client, resident) == (4_200, 240)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 1_050
    cid = campaign["id"]
    r, m = resident.id, shop.id
    assert await entry_legs(app, payment["id"]) == sorted(
        [
            (f"resident:{r}:points", 200),
            (f"resident:{r}:money", 800),
            (f"merchant:{m}:payable", -1_000),
            (f"campaign:{cid}:budget", 240),
            (f"resident:{r}:points", -240),
            (f"campaign:{cid}:budget", 50),
            (f"merchant:{m}:payable", -50),
        ]
    )
    await app.state.cache.delete(f"campaign-budget:{cid}")  # the live figure is cached 1 s
    assert (await ward.get(cid))["budget_remaining"] == 100_000 - 290
    assert await balance(app, ledger.campaign_budget(cid)) == 100_000 - 290
    assert await balance(app, ledger.BANK_CITY) >= 100_000
    # The new lot lasts the campaign's 60 days, to the end of that day in Tokyo.
    wallet = (await client.get("/api/v1/wallet", headers=resident.headers)).json()
    [lot] = wallet["points_lots"]
    assert lot["amount"] == 240
    history = (await client.get("/api/v1/wallet/transactions", headers=resident.headers)).json()
    assert [i["kind"] for i in history["items"][:2]] == ["payment", "points_grant"]


async def test_live_budget_is_at_most_a_second_old(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(budget=10_000, merchant_rate_bp=0)
    shop = await ward.shop()
    resident = await funded_resident(client)
    await paid(client, resident, await sticker_payload(client, shop), 1_000)
    response = await client.get(f"/api/v1/campaigns/{campaign['id']}", headers=ward.officer)
    assert response.headers["cache-control"] == "private, max-age=1"
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    assert (await ward.get(campaign["id"]))["budget_remaining"] == 10_000 - 300
    assert (await ward.get(campaign["id"]))["rewards"]["resident_points"] == 300


# -- tiers and eligibility -------------------------------------------------------------------


async def test_tiers_by_store_type_and_street_membership(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    # せたがやPay's own tiers: small shop in a 商店街 20 %, other small 15 %, chain 10 %,
    # large 0 %. This campaign covers the ward's kitazawa district streets and shops outside.
    await ward.launch(
        resident_rate_bp=0,
        merchant_rate_bp=0,
        eligibility={"categories": ["bakery"]},
        tiers=[
            {"store_type": "small", "in_shopping_street": True, "resident_rate_bp": 2000},
            {"store_type": "small", "in_shopping_street": False, "resident_rate_bp": 1500},
            {"store_type": "chain", "resident_rate_bp": 1000},
            {"store_type": "large", "resident_rate_bp": 0},
        ],
    )
    expected = {
        ("small", True): 200,
        ("small", False): 150,
        ("chain", True): 100,
        ("large", True): 0,
    }
    for (store_type, in_street), points in expected.items():
        changes: dict[str, Any] = {"store_type": store_type, "category": "bakery"}
        if not in_street:
            changes["shopping_street_id"] = None
        shop = await ward.shop(**changes)
        resident = await funded_resident(client)  # no points yet: all 1,000 paid in money
        payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
        assert payment["rewards"]["resident_points"] == points, (store_type, in_street)


async def test_eligibility_misses_earn_nothing(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    await ward.launch(
        min_payment=500,
        eligibility={
            "shopping_street_ids": [ward.street_id],
            "categories": ["grocery"],
            "store_types": ["small"],
        },
    )
    resident = await funded_resident(client)
    eligible = await ward.shop(category="grocery", store_type="small")
    wrong_category = await ward.shop(category="bakery", store_type="small")
    wrong_type = await ward.shop(category="grocery", store_type="chain")
    other_street = await ward.shop(category="grocery", store_type="small", shopping_street_id=1)

    assert (await paid(client, resident, await sticker_payload(client, eligible), 500))["rewards"][
        "resident_points"
    ] == 150
    assert (await paid(client, resident, await sticker_payload(client, eligible), 499))[
        "rewards"
    ] == {"resident_points": 0, "merchant_cashback": 0, "granted": True}
    for shop in (wrong_category, wrong_type, other_street):
        payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
        assert payment["rewards"]["resident_points"] == 0


async def test_a_campaign_that_has_not_started_or_has_ended_grants_nothing(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    later = await ward.launch(
        starts_at=iso(utcnow() + timedelta(days=1)), ends_at=iso(utcnow() + timedelta(days=2))
    )
    assert later["status"] == "approved"
    shop = await ward.shop()
    resident = await funded_resident(client)
    payload = await sticker_payload(client, shop)
    assert (await paid(client, resident, payload, 1_000))["rewards"]["resident_points"] == 0

    running = await ward.launch()
    assert (await paid(client, resident, payload, 1_000))["rewards"]["resident_points"] == 300
    ended = await client.post(f"/api/v1/campaigns/{running['id']}/end", headers=ward.officer)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert ended.json()["end_reason"] == "manual"
    assert (await paid(client, resident, payload, 1_000))["rewards"] == {
        "resident_points": 0,
        "merchant_cashback": 0,
        "granted": True,
    }
    again = await client.post(f"/api/v1/campaigns/{running['id']}/end", headers=ward.officer)
    assert again.status_code == 409


async def test_highest_rate_wins_and_ties_go_to_the_older_campaign(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    low = await ward.launch(resident_rate_bp=1000, merchant_rate_bp=300)
    high = await ward.launch(resident_rate_bp=2000, merchant_rate_bp=300)
    shop = await ward.shop()
    resident = await funded_resident(client)
    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
    assert payment["rewards"]["resident_points"] == 200  # the 20 % campaign
    assert payment["rewards"]["merchant_cashback"] == 30  # a tie: the older campaign pays
    legs = dict(
        (code, amount)
        for code, amount in await entry_legs(app, payment["id"])
        if code.startswith("campaign:")
    )
    assert legs == {f"campaign:{high['id']}:budget": 200, f"campaign:{low['id']}:budget": 30}


# -- caps and budget -----------------------------------------------------------------------


async def test_every_cap_in_order(client: httpx.AsyncClient, app: FastAPI, ward: Ward) -> None:
    await ward.launch(
        merchant_rate_bp=0,
        per_payment_cap=500,
        per_resident_monthly_cap=700,
        per_resident_cap=900,
    )
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await funded_resident(client, 100_000)
    earned = [
        (await paid(client, resident, payload, amount))["rewards"]["resident_points"]
        for amount in (10_000, 1_000, 1_000)
    ]
    # Points are spent first and earn nothing, so the money parts are 10,000, 500 and 850:
    # 3,000 points capped to 500 for the payment; 150; then 255, capped to the 50 left of
    # this month's 700.
    assert earned == [500, 150, 50]
    other = await funded_resident(client)
    assert (await paid(client, other, payload, 1_000))["rewards"]["resident_points"] == 300


async def test_monthly_cap_leaves_the_remainder(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    await ward.launch(merchant_rate_bp=0, per_resident_monthly_cap=400, per_resident_cap=1_000)
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await funded_resident(client)
    earned = [
        (await paid(client, resident, payload, 1_000))["rewards"]["resident_points"]
        for _ in range(3)
    ]
    assert earned == [300, 100, 0]


async def test_campaign_cap_across_months(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(merchant_rate_bp=0, per_resident_cap=500)
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await funded_resident(client)
    # The resident earned 450 last month already (a tally as campaign_grant keeps it).
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO campaign_resident_tallies (campaign_id, resident_id, month, amount)"
                " VALUES (:c, :r, '2000-01', 450)"
            ),
            {"c": campaign["id"], "r": resident.id},
        )
        await session.commit()
    assert (await paid(client, resident, payload, 1_000))["rewards"]["resident_points"] == 50


async def test_budget_remainder_is_granted_and_the_campaign_ends(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(budget=400)
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await funded_resident(client)
    first = await paid(client, resident, payload, 1_000)
    assert first["rewards"] == {"resident_points": 300, "merchant_cashback": 50, "granted": True}
    second = await paid(client, resident, payload, 1_000)
    # 50 yen left: the resident's points first, nothing left for the cashback.
    assert second["rewards"] == {"resident_points": 50, "merchant_cashback": 0, "granted": True}
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    now = await ward.get(campaign["id"])
    assert (now["status"], now["end_reason"], now["budget_remaining"]) == ("ended", "budget", 0)
    third = await paid(client, resident, payload, 1_000)
    assert third["rewards"]["resident_points"] == 0
    assert await balance(app, ledger.campaign_budget(campaign["id"])) == 0


# -- deferred grants --------------------------------------------------------------------------


async def test_deferred_rewards_are_granted_once_after_the_period(
    client: httpx.AsyncClient,
    app: FastAPI,
    ward: Ward,
    grant_deferred: Callable[[], None],
    database_url: str,
) -> None:
    campaign = await ward.launch(grant="deferred", budget=50_000)
    shop = await ward.shop()
    resident = await funded_resident(client)
    payment = await paid(client, resident, await sticker_payload(client, shop), 2_000)
    assert payment["rewards"] == {
        "resident_points": 600,
        "merchant_cashback": 100,
        "granted": False,
    }
    assert await money_points(client, resident) == (48_000, 0)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 2_000
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    assert (await ward.get(campaign["id"]))["budget_remaining"] == 50_000 - 700
    assert (await ward.get(campaign["id"]))["rewards"]["pending"] == 700

    # Not yet: the campaign is still running.
    grant_deferred()
    assert await money_points(client, resident) == (48_000, 0)

    await client.post(f"/api/v1/campaigns/{campaign['id']}/end", headers=ward.officer)
    grant_deferred()
    assert await money_points(client, resident) == (48_000, 600)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 2_100
    closed = await ward.get(campaign["id"])
    assert closed["status"] == "closed"
    # The unspent budget went back to the ward.
    assert await balance(app, ledger.campaign_budget(campaign["id"])) == 0

    grant_deferred()
    assert await money_points(client, resident) == (48_000, 600)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 2_100
    verified = run_cli("verify", database_url=database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr


# -- refunds revoke rewards --------------------------------------------------------------------


async def refund(
    client: httpx.AsyncClient, shop_headers: dict[str, str], payment_id: str, amount: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/merchant/payments/{payment_id}/refunds",
        json={"amount": amount},
        headers=shop_headers | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_refunds_revoke_rewards_in_proportion(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(budget=10_000)
    shop = await ward.shop()
    resident = await funded_resident(client, 10_000)
    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
    assert await money_points(client, resident) == (9_000, 300)

    half = await refund(client, shop.headers, payment["id"], 500)
    assert half.status_code == 201, half.text
    assert half.json()["rewards_revoked"] == {
        "resident_points": 150,
        "from_money": 0,
        "unrecovered": 0,
        "merchant_cashback": 25,
    }
    assert await money_points(client, resident) == (9_500, 150)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 1_050 - 500 - 25
    assert await balance(app, ledger.campaign_budget(campaign["id"])) == 10_000 - 350 + 175

    rest = await refund(client, shop.headers, payment["id"], 500)
    assert rest.json()["rewards_revoked"]["resident_points"] == 150
    assert await money_points(client, resident) == (10_000, 0)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 0
    assert await balance(app, ledger.campaign_budget(campaign["id"])) == 10_000
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    view = await ward.get(campaign["id"])
    assert view["budget_remaining"] == 10_000
    assert view["rewards"]["resident_points"] == 0 and view["rewards"]["revoked"] == 350


async def test_spent_reward_points_come_out_of_the_refunded_money(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    await ward.launch(budget=10_000, merchant_rate_bp=0)
    shop = await ward.shop()
    elsewhere = await ward.shop(shopping_street_id=1)
    resident = await funded_resident(client, 2_000)
    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
    assert await money_points(client, resident) == (1_000, 300)
    # The resident spends 250 of the 300 reward points at another shop.
    spent = await paid(client, resident, await sticker_payload(client, elsewhere), 250)
    assert spent["paid_with"] == {"points": 250, "money": 0}

    full = await refund(client, shop.headers, payment["id"], 1_000)
    assert full.status_code == 201, full.text
    assert full.json()["rewards_revoked"] == {
        "resident_points": 300,
        "from_money": 250,
        "unrecovered": 0,
        "merchant_cashback": 0,
    }
    # 1,000 back in money, less the 250 points already spent; the 50 unspent points go.
    assert await money_points(client, resident) == (1_000 + 1_000 - 250, 0)
    async with app.state.sessionmaker() as session:
        memo = (
            await session.execute(
                select(ledger.models.Entry.memo).order_by(ledger.models.Entry.id.desc()).limit(1)
            )
        ).scalar_one()
    assert "50 from points, 250 from money" in memo


async def test_revocation_it_cannot_cover_is_recorded(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(budget=10_000, merchant_rate_bp=0)
    shop = await ward.shop()
    elsewhere = await ward.shop(shopping_street_id=1)
    resident = await funded_resident(client, 1_000)
    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
    await paid(client, resident, await sticker_payload(client, elsewhere), 300)  # all points
    part = await refund(client, shop.headers, payment["id"], 100)
    # 30 points to revoke, all spent; the refund gives back 100 in money, which covers them.
    assert part.json()["rewards_revoked"]["from_money"] == 30
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    assert (await ward.get(campaign["id"]))["rewards"]["unrecovered"] == 0


# -- expiry --------------------------------------------------------------------------------


async def test_reward_points_expire_to_the_campaigns_breakage(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward, database_url: str
) -> None:
    campaign = await ward.launch(merchant_rate_bp=0)
    shop = await ward.shop()
    resident = await funded_resident(client)
    await paid(client, resident, await sticker_payload(client, shop), 1_000)
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(PointsLot)
            .where(PointsLot.resident_id == resident.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    result = run_cli("expire-points", "--batch", "1", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert await money_points(client, resident) == (49_000, 0)
    assert await balance(app, ledger.campaign_breakage(campaign["id"])) == 300


# -- workflow, maker-checker, validation, audit -----------------------------------------------


async def test_maker_checker(client: httpx.AsyncClient, app: FastAPI, ward: Ward) -> None:
    # The approver drafts and submits: approving their own campaign is refused.
    own = await client.post("/api/v1/campaigns", json=ward.body(), headers=ward.approver)
    assert own.status_code == 201
    cid = own.json()["id"]
    assert (
        await client.post(f"/api/v1/campaigns/{cid}/submit", headers=ward.approver)
    ).status_code == 200
    refused = await client.post(f"/api/v1/campaigns/{cid}/approve", headers=ward.approver)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/campaign-self-approval")
    # An officer may not approve at all; a draft may not be approved.
    draft = await ward.draft()
    assert (
        await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=ward.officer)
    ).status_code == 403
    assert (
        await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=ward.approver)
    ).status_code == 409
    # Residents see nothing of it.
    resident = await register(client)
    assert (
        await client.get(f"/api/v1/campaigns/{cid}", headers=resident.headers)
    ).status_code == 403


async def test_an_approver_who_edited_a_campaign_cannot_approve_it(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    # The confirmed attack: an approver rewrites someone else's draft, then approves it.
    draft = await ward.draft(budget=100_000, resident_rate_bp=500)
    patched = await client.patch(
        f"/api/v1/campaigns/{draft['id']}",
        json={"budget": 50_000_000, "resident_rate_bp": 10_000},
        headers=ward.approver,
    )
    assert patched.status_code == 200, patched.text
    sent = await client.post(f"/api/v1/campaigns/{draft['id']}/submit", headers=ward.officer)
    assert sent.status_code == 200, sent.text
    refused = await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=ward.approver)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/campaign-self-approval")
    assert (await ward.get(draft["id"]))["status"] == "submitted"
    # A third person, who neither wrote, edited nor submitted it, may.
    other = await staff_token(client, app, Role.APPROVER)
    approved = await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=other)
    assert approved.status_code == 200, approved.text
    ward.launched.append(draft["id"])


async def test_an_edit_after_submission_sends_the_campaign_back_to_draft(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    draft = await ward.draft(budget=1_000)
    sent = await client.post(f"/api/v1/campaigns/{draft['id']}/submit", headers=ward.officer)
    assert sent.status_code == 200 and sent.json()["status"] == "submitted"
    edited = await client.patch(
        f"/api/v1/campaigns/{draft['id']}", json={"budget": 2_000}, headers=ward.officer
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "draft"
    assert edited.json()["submitted_by"] is None and edited.json()["budget"] == 2_000
    # What was submitted is not what would be approved: it needs a new submission.
    assert (
        await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=ward.approver)
    ).status_code == 409
    resent = await client.post(f"/api/v1/campaigns/{draft['id']}/submit", headers=ward.officer)
    assert resent.status_code == 200
    approved = await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=ward.approver)
    assert approved.status_code == 200, approved.text
    ward.launched.append(draft["id"])
    trail = (
        await client.get(f"/api/v1/campaigns/{draft['id']}/audit", headers=ward.officer)
    ).json()
    assert [a["action"] for a in trail] == ["create", "submit", "update", "submit", "approve"]
    assert trail[2]["changes"] == {"budget": [1_000, 2_000], "status": ["submitted", "draft"]}
    # An approved campaign is not edited at all.
    assert (
        await client.patch(
            f"/api/v1/campaigns/{draft['id']}", json={"budget": 3_000}, headers=ward.officer
        )
    ).status_code == 409


async def test_the_audit_trail_says_who_did_what(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    draft = await ward.draft(budget=1_000)
    patched = await client.patch(
        f"/api/v1/campaigns/{draft['id']}", json={"budget": 2_000}, headers=ward.officer
    )
    assert patched.status_code == 200 and patched.json()["budget"] == 2_000
    sent = await client.post(f"/api/v1/campaigns/{draft['id']}/submit", headers=ward.officer)
    assert sent.status_code == 200
    back = await client.post(
        f"/api/v1/campaigns/{draft['id']}/reject",
        json={"reason": "予算の根拠"},
        headers=ward.approver,
    )
    assert back.json()["status"] == "draft"
    await client.post(f"/api/v1/campaigns/{draft['id']}/submit", headers=ward.officer)
    await client.post(f"/api/v1/campaigns/{draft['id']}/approve", headers=ward.approver)
    ward.launched.append(draft["id"])
    await client.post(f"/api/v1/campaigns/{draft['id']}/end", headers=ward.officer)
    trail = (
        await client.get(f"/api/v1/campaigns/{draft['id']}/audit", headers=ward.officer)
    ).json()
    assert [a["action"] for a in trail] == [
        "create",
        "update",
        "submit",
        "reject",
        "submit",
        "approve",
        "end",
    ]
    assert trail[1]["changes"] == {"budget": [1_000, 2_000]}
    assert trail[3]["changes"]["reason"] == "予算の根拠"
    assert len({trail[0]["actor_id"], trail[5]["actor_id"]}) == 2
    assert all(a["actor_id"] is not None for a in trail)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"ends_at": "2026-01-01T00:00:00+09:00", "starts_at": "2026-02-01T00:00:00+09:00"},
            "after",
        ),
        ({"resident_rate_bp": 10_001}, "less than or equal"),
        ({"budget": -1}, "greater than or equal"),
        ({"budget": 100.0}, "integer"),
        ({"resident_rate_bp": 0, "merchant_rate_bp": 0}, "rewards nothing"),
        ({"per_payment_cap": 1_000, "per_resident_monthly_cap": 500}, "above"),
        ({"tiers": [{"store_type": "small", "resident_rate_bp": 1}] * 2}, "overlap"),
        ({"eligibility": {"categories": ["no-such-category"]}}, "no merchant category"),
        (
            {"starts_at": "2020-01-01T00:00:00+09:00", "ends_at": "2020-02-01T00:00:00+09:00"},
            "past",
        ),
        ({"starts_at": "2026-12-01T00:00:00"}, "timezone"),
    ],
)
async def test_definitions_that_make_no_sense_are_refused(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward, changes: dict[str, Any], message: str
) -> None:
    response = await client.post(
        "/api/v1/campaigns", json=ward.body(**changes), headers=ward.officer
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert message in response.text


# -- admin views --------------------------------------------------------------------------


async def test_list_totals_estimate_and_report(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(name=f"下北沢応援 {uuid.uuid4().hex[:6]}")
    shop = await ward.shop(category="bakery")
    payload = await sticker_payload(client, shop)
    for _ in range(2):
        resident = await funded_resident(client)
        await paid(client, resident, payload, 1_000)

    listed = await client.get(
        "/api/v1/campaigns",
        params={"status": "active", "q": campaign["name"][:8]},
        headers=ward.approver,
    )
    assert listed.status_code == 200
    assert campaign["id"] in [c["id"] for c in listed.json()["items"]]
    drafts = await client.get("/api/v1/campaigns", params={"status": "draft"}, headers=ward.officer)
    assert all(c["status"] == "draft" for c in drafts.json()["items"])

    by_street = (
        await client.get(f"/api/v1/campaigns/{campaign['id']}/totals", headers=ward.officer)
    ).json()
    # Two residents at one shop are too few to show (issue 18: every figure that leaves).
    assert by_street["rows"] == [
        {
            "key": str(ward.street_id),
            "name": by_street["rows"][0]["name"],
            "payments": None,
            "resident_points": None,
            "merchant_cashback": None,
            "suppressed": True,
            "suppressed_reason": "few_residents",
        }
    ]
    by_category = (
        await client.get(
            f"/api/v1/campaigns/{campaign['id']}/totals",
            params={"by": "category"},
            headers=ward.officer,
        )
    ).json()
    assert [(r["key"], r["suppressed"]) for r in by_category["rows"]] == [("bakery", True)]
    lenient = Thresholds(min_residents=2, min_merchants=1, dominance_one=100, dominance_two=100)
    async with app.state.sessionmaker() as session:
        [shown] = await disclosed_reward_totals(session, campaign["id"], "category", lenient)
        lenient_report = await effect_report(
            session,
            await get_campaign(session, campaign["id"]),
            now=utcnow(),
            rules_of_disclosure=lenient,
        )
    assert shown == {
        "key": "bakery",
        "payments": round_count(2),  # counts are rounded to 5
        "resident_points": 600,
        "merchant_cashback": 100,
        "suppressed": False,
        "suppressed_reason": None,
    }
    assert lenient_report["spend"] == 2_000 and lenient_report["new_to_shop"] == round_count(2)

    estimate = await client.get(
        f"/api/v1/campaigns/{campaign['id']}/estimate",
        params={"uplift_percent": 20},
        headers=ward.officer,
    )
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["eligible_shops"] >= 1

    report = (
        await client.get(f"/api/v1/campaigns/{campaign['id']}/report", headers=ward.officer)
    ).json()
    assert report["spend"] is None and report["payments"] is None
    assert report["new_to_shop"] is None
    assert report["suppressed_figures"]["spend"] == "too few residents"
    assert report["budget_used"] == 700  # the ward's own accounts, as on the campaign
    # Two residents are fewer than the privacy threshold: the street's row is suppressed.
    [row] = report["by_shopping_street"]
    assert row["suppressed"] is True and row["spend"] is None


async def test_reports_estimates_and_totals_show_no_figure_of_a_group_too_small(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    """Issue 18 item 7, as confirmed: a campaign narrowed to one shop, ``starts_at`` in the
    past, one payment; its report showed ``spend 3456, payments 1``."""
    shop = await ward.shop()
    resident = await funded_resident(client)
    await paid(client, resident, await sticker_payload(client, shop), 3_456)
    today = to_tokyo(utcnow()).date()
    async with app.state.sessionmaker() as session:
        await store_facts(
            session,
            [fact(today - timedelta(days=3), ward.street_id, 3_456, resident="s", shop="s")],
        )
    back = iso(utcnow() - timedelta(days=2))
    draft = await ward.draft(starts_at=back)
    for step in ("draft", "submitted"):
        refused = await client.get(f"/api/v1/campaigns/{draft['id']}/report", headers=ward.officer)
        assert refused.status_code == 409, (step, refused.text)
        assert refused.json()["type"].endswith("campaign-report-unavailable")
        if step == "draft":
            submitted = await client.post(
                f"/api/v1/campaigns/{draft['id']}/submit", headers=ward.officer
            )
            assert submitted.status_code == 200
    # An estimate is for drafts, but its figures follow the same rules.
    estimate = await client.get(f"/api/v1/campaigns/{draft['id']}/estimate", headers=ward.officer)
    assert estimate.status_code == 200, estimate.text
    assert "3456" not in estimate.text and "3,456" not in estimate.text
    assert estimate.json()["suppressed"] is True
    assert estimate.json()["weekly_eligible_spend"] == [None] * 4
    assert estimate.json()["baseline_spend"] is None

    campaign = await ward.launch(starts_at=back)
    await paid(client, resident, await sticker_payload(client, shop), 2_000)  # rewarded
    report = await client.get(f"/api/v1/campaigns/{campaign['id']}/report", headers=ward.officer)
    assert report.status_code == 200, report.text
    body = report.json()
    for figure in ("spend", "payments", "uplift", "new_to_shop", "cost_per_yen_of_uplift"):
        assert body[figure] is None, (figure, body[figure])
    assert body["suppressed_figures"]["spend"] == "too few residents"
    assert "5456" not in report.text and "3456" not in report.text
    assert body["baseline_spend"] == 0  # nobody paid there before: a zero describes no one
    [row] = body["by_shopping_street"]
    assert row["suppressed"] is True and row["spend"] is None

    totals = await client.get(f"/api/v1/campaigns/{campaign['id']}/totals", headers=ward.officer)
    assert totals.status_code == 200, totals.text
    [line] = totals.json()["rows"]
    assert line["suppressed"] is True
    assert line["payments"] is None and line["resident_points"] is None
    assert line["merchant_cashback"] is None


async def test_a_refund_before_a_deferred_grant_shrinks_the_grant(
    client: httpx.AsyncClient,
    app: FastAPI,
    ward: Ward,
    grant_deferred: Callable[[], None],
) -> None:
    campaign = await ward.launch(grant="deferred", budget=50_000)
    shop = await ward.shop()
    resident = await funded_resident(client)
    payment = await paid(client, resident, await sticker_payload(client, shop), 2_000)
    part = await refund(client, shop.headers, payment["id"], 500)
    assert part.status_code == 201, part.text
    # Nothing was granted yet, so nothing is taken from the resident or the shop.
    assert part.json()["rewards_revoked"] == {
        "resident_points": 0,
        "from_money": 0,
        "unrecovered": 0,
        "merchant_cashback": 0,
    }
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    view = await ward.get(campaign["id"])
    assert view["rewards"]["pending"] == 450 + 75
    assert view["budget_remaining"] == 50_000 - 525
    await client.post(f"/api/v1/campaigns/{campaign['id']}/end", headers=ward.officer)
    grant_deferred()
    assert await money_points(client, resident) == (48_500, 450)
    assert await balance(app, ledger.merchant_payable(shop.id)) == 1_500 + 75


async def test_after_closing_revoked_rewards_go_to_breakage(
    client: httpx.AsyncClient,
    app: FastAPI,
    ward: Ward,
    grant_deferred: Callable[[], None],
) -> None:
    campaign = await ward.launch(budget=10_000)
    shop = await ward.shop()
    resident = await funded_resident(client)
    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
    await client.post(f"/api/v1/campaigns/{campaign['id']}/end", headers=ward.officer)
    grant_deferred()
    assert (await ward.get(campaign["id"]))["status"] == "closed"
    assert await balance(app, ledger.campaign_budget(campaign["id"])) == 0

    full = await refund(client, shop.headers, payment["id"], 1_000)
    assert full.status_code == 201, full.text
    assert full.json()["rewards_revoked"]["resident_points"] == 300
    assert await balance(app, ledger.campaign_breakage(campaign["id"])) == 350
    assert await balance(app, ledger.campaign_budget(campaign["id"])) == 0


async def test_revoking_points_that_already_expired_is_recorded_not_charged(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    campaign = await ward.launch(budget=10_000, merchant_rate_bp=0)
    shop = await ward.shop()
    resident = await funded_resident(client, 1_000)
    payment = await paid(client, resident, await sticker_payload(client, shop), 1_000)
    from wallet_api import expire_points

    async with app.state.sessionmaker() as session:
        await session.execute(
            update(PointsLot)
            .where(PointsLot.resident_id == resident.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert await expire_points(session, now=utcnow()) >= 1
        await session.commit()
    full = await refund(client, shop.headers, payment["id"], 1_000)
    # The 300 points went to the campaign's breakage when they expired: the refund gives
    # back the whole 1,000 and records the 300 as unrecovered.
    assert full.json()["rewards_revoked"] == {
        "resident_points": 0,
        "from_money": 0,
        "unrecovered": 300,
        "merchant_cashback": 0,
    }
    assert await money_points(client, resident) == (1_000, 0)
    await app.state.cache.delete(f"campaign-budget:{campaign['id']}")
    assert (await ward.get(campaign["id"]))["rewards"]["unrecovered"] == 300


async def test_the_estimate_projects_the_last_four_weeks_of_facts_with_a_range(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    today = to_tokyo(utcnow()).date()
    weeks = [10_000, 20_000, 30_000, 40_000]  # oldest first
    # Each week: ten residents at five shops, enough for every figure to be shown.
    rows = [
        fact(
            today - timedelta(days=27 - 7 * i),
            ward.street_id,
            a // 10,
            resident=f"e{i}-{person}",
            shop=f"e{person % 5}",
        )
        for i, a in enumerate(weeks)
        for person in range(10)
    ]
    # A street the campaign does not cover.
    rows.append(fact(today - timedelta(days=3), -ward.street_id, 10**6, resident="x", shop="x"))
    async with app.state.sessionmaker() as session:
        await store_facts(session, rows)
    starts = utcnow() + timedelta(days=1)
    campaign = await ward.draft(starts_at=iso(starts), ends_at=iso(starts + timedelta(days=14)))
    answer = await client.get(
        f"/api/v1/campaigns/{campaign['id']}/estimate",
        params={"uplift_percent": 10},
        headers=ward.officer,
    )
    assert answer.status_code == 200, answer.text
    estimate = answer.json()
    assert estimate["weekly_eligible_spend"] == weeks
    # 30 % back in points + 5 % cashback = 35 % of each week; two weeks of window; +10 %;
    # yen to 3 significant figures, as every published figure.
    assert estimate["expected_cost"] == round_yen(round(8_750 * 2 * 1.1))
    assert estimate["expected_cost_range"] == [3_500 * 2, round_yen(round(14_000 * 2 * 1.1))]
    assert estimate["expected_spend"] == round_yen(round(25_000 * 2 * 1.1))
    assert estimate["suppressed"] is False
