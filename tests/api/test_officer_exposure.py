"""Issue 22 item 5, what officers were exposed to, through the real API: a suspension's
reason (required, recorded, shown to the shop), withdrawing a draft or a submission, the
burn chart's history from the database, and the effect report's distinct residents and
its reason per hidden row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from analytics.campaign_reports import disclosed_reward_totals, effect_report
from analytics.disclosure import Thresholds
from campaigns.budget import remaining_budgets
from campaigns.service import get_campaign
from machipay.auth import Role
from machipay.timeutil import utcnow
from merchant_api.models import Merchant
from payments import new_to_shop
from tests.api.campaign_kit import Ward, iso, open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import open_shop, staff_token, sticker_payload
from tests.api.test_payments import pay

PROBLEM = "application/problem+json"


@pytest.fixture
async def ward(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[Ward]:
    ward = await open_ward(client, app)
    yield ward
    await ward.end_all()


async def funded_resident(client: httpx.AsyncClient) -> ResidentHandle:
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 50_000)).status_code == 200
    return resident


async def pay_at(
    client: httpx.AsyncClient, resident: ResidentHandle, payload: str, amount: int
) -> None:
    done = await pay(client, resident, payload, amount)
    assert done.status_code == 201, done.text


# -- suspending a shop --------------------------------------------------------------------


async def test_a_suspension_needs_a_reason_that_the_shop_then_reads(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    officer = await staff_token(client, app, Role.OFFICER)
    path = f"/api/v1/merchants/{shop.id}/suspend"
    for body in (None, {}, {"reason": ""}, {"reason": "　 "}, {"reason": "あ" * 201}):
        refused = await client.post(path, json=body, headers=officer)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == PROBLEM
    still = await client.get("/api/v1/merchant", headers=shop.headers)
    assert still.json()["status"] == "active" and still.json()["suspension_reason"] is None

    before = utcnow()
    # NFKC-normalised and trimmed like every text another person reads.
    done = await client.post(
        path, json={"reason": " 売上計上の確認のため（ＡＢＣ） "}, headers=officer
    )
    assert done.status_code == 200, done.text
    profile = (await client.get("/api/v1/merchant", headers=shop.headers)).json()
    assert profile["status"] == "suspended"
    assert profile["suspension_reason"] == "売上計上の確認のため(ABC)"
    assert datetime.fromisoformat(profile["suspended_at"]) >= before - timedelta(seconds=1)
    listed = await client.get("/api/v1/merchants?status=suspended&limit=500", headers=officer)
    [row] = [m for m in listed.json() if m["id"] == shop.id]
    assert row["suspension_reason"] == "売上計上の確認のため(ABC)"
    async with app.state.sessionmaker() as session:
        merchant = await session.get(Merchant, shop.id)
        assert merchant is not None and merchant.suspended_by is not None

    # Suspending twice is a conflict; reinstated, the shop no longer reads a reason.
    assert (await client.post(path, json={"reason": "再度"}, headers=officer)).status_code == 409
    reinstated = await client.post(f"/api/v1/merchants/{shop.id}/reinstate", headers=officer)
    assert reinstated.status_code == 200
    profile = (await client.get("/api/v1/merchant", headers=shop.headers)).json()
    assert profile["status"] == "active" and profile["suspension_reason"] is None


# -- withdrawing a campaign ---------------------------------------------------------------


async def test_a_draft_or_a_submission_is_withdrawn_not_deleted(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    draft = await ward.draft()
    withdrawn = await client.post(
        f"/api/v1/campaigns/{draft['id']}/withdraw",
        json={"reason": "予算の組み直しのため"},
        headers=ward.officer,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert body["status"] == "withdrawn"
    assert body["withdrawn_by"] is not None and body["withdrawn_at"] is not None
    # Still there, with who, when and why in its audit trail.
    assert (await ward.get(draft["id"]))["status"] == "withdrawn"
    trail = (
        await client.get(f"/api/v1/campaigns/{draft['id']}/audit", headers=ward.officer)
    ).json()
    last = trail[-1]
    assert last["action"] == "withdraw"
    assert last["changes"] == {"status": ["draft", "withdrawn"], "reason": "予算の組み直しのため"}
    assert last["actor_id"] == body["withdrawn_by"]
    # A withdrawn campaign is never submitted, edited, approved or withdrawn again.
    cid = draft["id"]
    for verb in ("submit", "withdraw"):
        again = await client.post(f"/api/v1/campaigns/{cid}/{verb}", headers=ward.officer)
        assert again.status_code == 409, (verb, again.text)
        assert again.json()["type"].endswith("/campaign-state-conflict")
    edit = await client.patch(f"/api/v1/campaigns/{cid}", json={"budget": 5}, headers=ward.officer)
    assert edit.status_code == 409
    assert (
        await client.post(f"/api/v1/campaigns/{cid}/approve", headers=ward.approver)
    ).status_code == 409
    listed = await client.get(
        "/api/v1/campaigns", params={"status": "withdrawn"}, headers=ward.officer
    )
    assert cid in [c["id"] for c in listed.json()["items"]]

    # A submitted one too, without a reason; an approved one cannot be withdrawn (end it).
    submitted = await ward.draft()
    await client.post(f"/api/v1/campaigns/{submitted['id']}/submit", headers=ward.officer)
    gone = await client.post(f"/api/v1/campaigns/{submitted['id']}/withdraw", headers=ward.officer)
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    launched = await ward.launch()
    refused = await client.post(
        f"/api/v1/campaigns/{launched['id']}/withdraw", headers=ward.officer
    )
    assert refused.status_code == 409
    # Residents and analysts cannot withdraw anything.
    resident = await register(client)
    assert (
        await client.post(f"/api/v1/campaigns/{cid}/withdraw", headers=resident.headers)
    ).status_code == 403


# -- the burn chart's history -------------------------------------------------------------


async def test_the_burn_history_comes_from_the_database(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    campaign = await ward.launch(budget=100_000)
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await funded_resident(client)
    for amount in (1_000, 2_000):
        await pay_at(client, resident, payload, amount)
    # A console opening the page now sees the whole curve, not just what comes next.
    answer = await client.get(f"/api/v1/campaigns/{campaign['id']}/burn", headers=ward.officer)
    assert answer.status_code == 200, answer.text
    burn = answer.json()
    assert burn["bucket"] == "hour" and burn["budget"] == 100_000
    first, *rest = burn["points"]
    assert first == {"at": burn["funded_at"], "used": 0, "remaining": 100_000}
    # The curve ends where the campaign stands: every reward of both payments taken.
    live = await ward.get(campaign["id"])
    rewards = live["rewards"]["resident_points"] + live["rewards"]["merchant_cashback"]
    assert rewards > 0
    assert rest[-1]["used"] == rewards
    # The budget shards, which the live page reads too (through a cache of up to a second,
    # BUDGET_CACHE_SECONDS: right after the launch it may still show the whole budget).
    async with ward.app.state.sessionmaker() as session:
        remaining = (await remaining_budgets(session, [campaign["id"]]))[campaign["id"]]
    assert rest[-1]["remaining"] == remaining == 100_000 - rewards
    times = [datetime.fromisoformat(p["at"]) for p in burn["points"]]
    assert times == sorted(times)
    assert times[-1] <= datetime.fromisoformat(burn["as_of"])
    # A draft has no history; an unknown campaign is a 404; residents see nothing.
    draft = await ward.draft()
    empty = await client.get(f"/api/v1/campaigns/{draft['id']}/burn", headers=ward.officer)
    assert empty.status_code == 200 and empty.json()["points"] == []
    assert (
        await client.get("/api/v1/campaigns/9223372036854775807/burn", headers=ward.officer)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/campaigns/{campaign['id']}/burn", headers=resident.headers)
    ).status_code == 403


# -- the effect report --------------------------------------------------------------------


async def test_first_time_visitors_are_residents_not_resident_shop_pairs(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    """It showed 878 first-time visitors in a ward of 301: each resident was counted once
    per shop they were new to."""
    shops = [await ward.shop() for _ in range(3)]
    start = utcnow()
    residents = [await funded_resident(client) for _ in range(2)]
    for resident in residents:
        for shop in shops:
            await pay_at(client, resident, await sticker_payload(client, shop), 500)
    async with app.state.sessionmaker() as session:
        newcomers = await new_to_shop(
            session, [s.id for s in shops], start - timedelta(seconds=1), utcnow()
        )
    assert newcomers == 2  # was 6


async def test_every_hidden_row_says_why(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    other = await client.post(
        "/api/v1/shopping-streets",
        json={
            "name": f"理由商店街{uuid.uuid4().hex[:8]}",
            "name_en": f"Reason Street {uuid.uuid4().hex[:8]}",
            "district_id": "kitazawa",
        },
        headers=ward.officer,
    )
    assert other.status_code == 201
    street_b = int(other.json()["id"])
    campaign = await ward.launch(
        starts_at=iso(utcnow() - timedelta(minutes=1)),
        eligibility={"shopping_street_ids": [ward.street_id, street_b]},
    )
    # Street A: one resident at one shop. Street B: three residents, one shop takes 6/7.
    lone = await funded_resident(client)
    await pay_at(client, lone, await sticker_payload(client, await ward.shop()), 1_000)
    big, small = (
        await ward.shop(shopping_street_id=street_b),
        await ward.shop(shopping_street_id=street_b),
    )
    for shop, amount in ((big, 3_000), (big, 3_000), (small, 1_000)):
        await pay_at(
            client, await funded_resident(client), await sticker_payload(client, shop), amount
        )

    async def reasons(rules: Thresholds) -> dict[int, str | None]:
        async with app.state.sessionmaker() as session:
            report = await effect_report(
                session,
                await get_campaign(session, campaign["id"]),
                now=utcnow(),
                rules_of_disclosure=rules,
            )
        rows = report["by_shopping_street"]
        assert all((r["suppressed_reason"] is None) == (not r["suppressed"]) for r in rows)
        assert all(r["spend"] is None for r in rows if r["suppressed"])
        return {r["shopping_street_id"]: r["suppressed_reason"] for r in rows}

    # k = 2: street A has too few residents; B alone would give A back by subtraction.
    lenient_shops = Thresholds(
        min_residents=2, min_merchants=1, dominance_one=100, dominance_two=100
    )
    assert await reasons(lenient_shops) == {
        ward.street_id: "few_residents",
        street_b: "complementary",
    }
    # One shop may make up at most 80 %: B is hidden for its dominant shop, A still for k.
    strict_shops = Thresholds(min_residents=2, min_merchants=1, dominance_one=80, dominance_two=100)
    assert await reasons(strict_shops) == {
        ward.street_id: "few_residents",
        street_b: "dominant_shop",
    }

    # The API: each hidden row carries its code; the totals rows too.
    report = await client.get(f"/api/v1/campaigns/{campaign['id']}/report", headers=ward.officer)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["new_to_shop_unit"] == "residents"
    assert {r["suppressed_reason"] for r in body["by_shopping_street"]} <= {
        "few_residents",
        "dominant_shop",
        "complementary",
    }
    assert all(r["suppressed_reason"] for r in body["by_shopping_street"] if r["suppressed"])
    assert body["suppressed_figure_reasons"].get("spend") == "few_residents"
    async with app.state.sessionmaker() as session:
        totals = await disclosed_reward_totals(
            session, campaign["id"], "shopping_street", lenient_shops
        )
    assert {r["key"]: r["suppressed_reason"] for r in totals} == {
        str(ward.street_id): "few_residents",
        str(street_b): "complementary",
    }
