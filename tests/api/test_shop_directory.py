"""Issue 22 items 1–2 through the real API: the public shop directory (search, filters,
paging, campaign badges), the campaigns running now with my cap left, the reward preview
in QR resolve (equal to what the payment then grants) and paying without points."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.api.campaign_kit import Ward, open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, sticker_payload
from tests.api.test_payments import give_points, money_points, pay

PROBLEM = "application/problem+json"


@pytest.fixture
async def ward(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[Ward]:
    ward = await open_ward(client, app)
    yield ward
    await ward.end_all()


async def pin(
    app: FastAPI, shop: ShopHandle, lat: float, lon: float, hours: str | None = None
) -> None:
    """What the application page's map pin writes (another engineer's page): set directly."""
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE merchants SET latitude = :lat, longitude = :lon, opening_hours = :hours"
                " WHERE id = :id"
            ),
            {"lat": lat, "lon": lon, "hours": hours, "id": shop.id},
        )
        await session.commit()


async def shops(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/shops", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


async def funded(client: httpx.AsyncClient, money: int) -> ResidentHandle:
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, money)).status_code == 200
    return resident


async def resolve(
    client: httpx.AsyncClient, resident: ResidentHandle, payload: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/qr/resolve", json={"payload": payload, **body}, headers=resident.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- the directory ---------------------------------------------------------------------------


async def test_search_by_name_kana_category_street_and_district_without_an_account(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    tag = uuid.uuid4().hex[:6]
    greengrocer = await ward.shop(
        name=f"八百屋みどり{tag}", name_kana="ヤオヤ ミドリ", category="grocery"
    )
    await ward.shop(name=f"喫茶ひだまり{tag}", name_kana="キッサ ヒダマリ", category="restaurant")
    await pin(app, greengrocer, 35.661234, 139.668765, "10:00–19:00（水曜定休）")

    everything = await shops(client, street=ward.street_id)
    assert sorted(names(everything)) == sorted([f"八百屋みどり{tag}", f"喫茶ひだまり{tag}"])
    item = next(i for i in everything["items"] if i["id"] == greengrocer.id)
    assert item["location"] == {"lat": 35.661234, "lon": 139.668765}
    assert item["opening_hours"] == "10:00–19:00（水曜定休）"
    assert item["category"] == "grocery" and item["category_name"] == "食料品・青果"
    assert item["district_id"] == "kitazawa" and item["district"] == "北沢"
    assert item["shopping_street_id"] == ward.street_id and item["campaign"] is None
    assert item["address"].startswith("東京都世田谷区")
    other = next(i for i in everything["items"] if i["id"] != greengrocer.id)
    assert other["location"] is None

    # A full-width tag as an IME types it finds the same shop (NFKC); so does the reading
    # typed in hiragana.
    wide = tag.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789abcdef"})
    assert names(await shops(client, q=f"みどり{wide}")) == [f"八百屋みどり{tag}"]
    assert greengrocer.id in [
        i["id"] for i in (await shops(client, q="やおや", street=ward.street_id))["items"]
    ]
    assert names(await shops(client, street=ward.street_id, category="restaurant")) == [
        f"喫茶ひだまり{tag}"
    ]
    assert len((await shops(client, district="kitazawa", q=tag))["items"]) == 2
    assert (await shops(client, district="taishido", q=tag))["items"] == []
    # LIKE's wildcards are text, not patterns; invisible characters (NUL too) are dropped.
    assert (await shops(client, q="%", street=ward.street_id))["items"] == []
    assert names(await shops(client, q=f"喫茶\x00\u200bひだまり{tag}")) == [f"喫茶ひだまり{tag}"]


async def test_pages_follow_the_cursor_and_every_input_is_bounded(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    opened = [await ward.shop(name=f"頁の店{n}") for n in range(5)]
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"street": ward.street_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await shops(client, **params)
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(s.id for s in opened)

    for params in (
        {"q": "あ" * 51},
        {"limit": 51},
        {"limit": 0},
        {"cursor": "abc"},
        {"cursor": "9" * 19},
        {"street": 2**63},
        {"campaign": "all"},
        {"category": "<script>"},
    ):
        refused = await client.get("/api/v1/shops", params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.headers["content-type"] == PROBLEM


async def test_badges_and_the_campaign_filter_follow_the_campaigns_own_rules(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    small = await ward.shop(name="小さな店", store_type="small", category="grocery")
    chain = await ward.shop(name="チェーン店", store_type="chain", category="grocery")
    large = await ward.shop(name="大型店", store_type="large", category="grocery")
    cafe = await ward.shop(name="喫茶店", store_type="small", category="restaurant")
    assert all(i["campaign"] is None for i in (await shops(client, street=ward.street_id))["items"])
    assert (await shops(client, street=ward.street_id, campaign="now"))["items"] == []

    campaign = await ward.launch(
        eligibility={"shopping_street_ids": [ward.street_id], "categories": ["grocery"]},
        resident_rate_bp=1000,
        tiers=[
            {"store_type": "small", "in_shopping_street": True, "resident_rate_bp": 2000},
            {"store_type": "large", "resident_rate_bp": 0},
        ],
    )
    page = await shops(client, street=ward.street_id)
    badges = {i["id"]: i["campaign"] for i in page["items"]}
    assert badges[small.id]["resident_rate_bp"] == 2000
    assert badges[small.id]["id"] == campaign["id"]
    assert badges[chain.id]["resident_rate_bp"] == 1000
    assert badges[large.id] is None  # a tier at 0 %: no points there
    assert badges[cafe.id] is None  # not an eligible category
    rewarded = {
        i["id"] for i in (await shops(client, street=ward.street_id, campaign="now"))["items"]
    }
    assert rewarded == {small.id, chain.id}
    by_id = await shops(client, street=ward.street_id, campaign=str(campaign["id"]))
    assert {i["id"] for i in by_id["items"]} == {small.id, chain.id}


async def test_campaigns_now_say_where_until_when_and_my_cap_left(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    shop = await ward.shop()
    campaign = await ward.launch(per_resident_monthly_cap=500, resident_rate_bp=2000)
    public = await client.get("/api/v1/campaigns/current")
    assert public.status_code == 200, public.text
    mine = next(c for c in public.json()["items"] if c["id"] == campaign["id"])
    assert "cap_left" not in mine
    assert public.headers["vary"] == "Authorization"
    assert mine["resident_rate_bp"] == 2000 and mine["per_resident_monthly_cap"] == 500
    assert [s["id"] for s in mine["where"]["shopping_streets"]] == [str(ward.street_id)]
    assert mine["where"]["shopping_streets"][0]["name"].startswith("テスト商店街")
    assert mine["ends_at"] == campaign["ends_at"]

    resident = await funded(client, 10_000)

    async def cap_left() -> int | None:
        answer = await client.get("/api/v1/campaigns/current", headers=resident.headers)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "private, no-store"
        left: int | None = next(c for c in answer.json()["items"] if c["id"] == campaign["id"])[
            "cap_left"
        ]
        return left

    assert await cap_left() == 500
    paid = await pay(client, resident, await sticker_payload(client, shop), 1_000)
    assert paid.status_code == 201 and paid.json()["rewards"]["resident_points"] == 200
    assert await cap_left() == 300


# -- know before you pay ---------------------------------------------------------------------


async def test_the_preview_is_what_the_payment_grants(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    shop = await ward.shop()
    campaign = await ward.launch(resident_rate_bp=3000, per_resident_monthly_cap=1_000)
    payload = await sticker_payload(client, shop)
    resident = await funded(client, 20_000)
    await give_points(app, resident, 300)

    # Before the amount is typed: the rate and the cap, no number of points yet.
    bare = await resolve(client, resident, payload)
    assert bare["reward"] == {
        "resident_points": None,
        "rate_bp": 3000,
        "cap_left": 1_000,
        "campaign_id": campaign["id"],
        "campaign_name": campaign["name"],
    }
    # 2,000 yen: 300 points are spent first, 30 % of the 1,700 yen money part is 510.
    preview = (await resolve(client, resident, payload, amount=2_000))["reward"]
    assert preview["resident_points"] == 510
    paid = await pay(client, resident, payload, 2_000)
    assert paid.status_code == 201, paid.text
    assert paid.json()["rewards"]["resident_points"] == preview["resident_points"]

    # The monthly cap has 490 left (and the reward points just earned would be spent):
    # keeping the points, 30 % of 3,000 is 900, capped at 490.
    keep = (await resolve(client, resident, payload, amount=3_000, use_points=False))["reward"]
    assert keep["resident_points"] == 490 and keep["cap_left"] == 490
    spend = (await resolve(client, resident, payload, amount=3_000))["reward"]
    assert spend["resident_points"] == 490  # 30 % of the 2,490 yen left after 510 points
    paid = await client.post(
        "/api/v1/payments",
        json={"qr_payload": payload, "amount": 3_000, "use_points": False},
        headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["paid_with"] == {"points": 0, "money": 3_000}
    assert paid.json()["rewards"]["resident_points"] == keep["resident_points"]
    after = (await resolve(client, resident, payload, amount=1_000))["reward"]
    assert after["resident_points"] == 0 and after["cap_left"] == 0


async def test_no_reward_outside_a_campaign_and_a_dynamic_code_previews_its_own_amount(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    shop = await ward.shop()
    resident = await funded(client, 5_000)
    payload = await sticker_payload(client, shop)
    assert (await resolve(client, resident, payload, amount=1_000))["reward"] is None
    await ward.launch(resident_rate_bp=1000, min_payment=500)
    assert (await resolve(client, resident, payload, amount=400))["reward"] is None
    charge = await client.post(
        "/api/v1/merchant/charges", json={"amount": 1_200}, headers=shop.headers
    )
    assert charge.status_code == 201, charge.text
    dynamic = await resolve(client, resident, charge.json()["qr_payload"])
    assert dynamic["amount"] == 1_200 and dynamic["reward"]["resident_points"] == 120
    paid = await pay(client, resident, charge.json()["qr_payload"])
    assert paid.status_code == 201 and paid.json()["rewards"]["resident_points"] == 120


async def test_a_resident_may_keep_their_points(
    client: httpx.AsyncClient, app: FastAPI, ward: Ward
) -> None:
    shop = await ward.shop()
    payload = await sticker_payload(client, shop)
    resident = await funded(client, 1_000)
    await give_points(app, resident, 500)

    refused = await client.post(
        "/api/v1/payments",
        json={"qr_payload": payload, "amount": 1_200, "use_points": False},
        headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    # Money alone is short, though points would have covered it.
    assert refused.status_code == 402 and refused.headers["content-type"] == PROBLEM
    assert await money_points(client, resident) == (1_000, 500)
    for wrong in ("false", 0, None):
        bad = await client.post(
            "/api/v1/payments",
            json={"qr_payload": payload, "amount": 100, "use_points": wrong},
            headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert bad.status_code == 422, wrong

    kept = await client.post(
        "/api/v1/payments",
        json={"qr_payload": payload, "amount": 600, "use_points": False},
        headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert kept.status_code == 201 and kept.json()["paid_with"] == {"points": 0, "money": 600}
    assert await money_points(client, resident) == (400, 500)
    spent = await pay(client, resident, payload, 600)
    assert spent.status_code == 201 and spent.json()["paid_with"] == {"points": 500, "money": 100}

    # At the till: the code carries the choice, the shop cannot change it.
    await give_points(app, resident, 200)
    issued = await client.post(
        "/api/v1/wallet/one-time-code", json={"use_points": False}, headers=resident.headers
    )
    assert issued.status_code == 201, issued.text
    captured = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": issued.json()["code"], "amount": 100},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert captured.status_code == 201, captured.text
    assert captured.json()["paid_with"] == {"points": 0, "money": 100}
    issued = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    captured = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": issued.json()["code"], "amount": 100},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert captured.status_code == 201 and captured.json()["paid_with"]["points"] == 100
