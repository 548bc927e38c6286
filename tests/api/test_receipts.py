"""Receipts from the history (issue 22 item 4): one line, own only, with the transaction
number, the shop, points and money, rewards and the time in JST; refund lines that name
the shop and the reward points they took back; districts in あいうえお order."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.api.campaign_kit import Ward, open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import sticker_payload
from tests.api.test_payments import pay
from ward.service import aiueo_key


def refund_lines_migration() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "migrations/versions/0022_resident_fixes.py"
    spec = importlib.util.spec_from_file_location("migration_0022", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def ward(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[Ward]:
    ward = await open_ward(client, app)
    yield ward
    await ward.end_all()


async def history(client: httpx.AsyncClient, resident: ResidentHandle) -> list[dict[str, object]]:
    page = await client.get("/api/v1/wallet/transactions?limit=20", headers=resident.headers)
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


async def receipt_of(
    client: httpx.AsyncClient, resident: ResidentHandle, reference: str
) -> httpx.Response:
    return await client.get(f"/api/v1/wallet/transactions/{reference}", headers=resident.headers)


async def refund(
    client: httpx.AsyncClient, headers: dict[str, str], payment_id: str, amount: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/merchant/payments/{payment_id}/refunds",
        json={"amount": amount},
        headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_a_payment_opens_as_a_receipt_of_its_own_resident_only(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    await ward.launch(budget=10_000, merchant_rate_bp=0)
    shop = await ward.shop()
    resident, other = await register(client), await register(client)
    await top_up(client, resident.wallet_id, 5_000)
    paid = await pay(client, resident, await sticker_payload(client, shop), 1_000)
    assert paid.status_code == 201, paid.text
    line = next(item for item in await history(client, resident) if item["kind"] == "payment")

    opened = await receipt_of(client, resident, str(line["id"]))
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["id"] == paid.json()["id"] == line["id"]
    assert body["kind"] == "payment"
    assert body["amount"] == 1_000
    assert body["merchant"] == paid.json()["merchant"]
    assert body["paid_with"] == {"points": 0, "money": 1_000}
    assert body["rewards"] == {"resident_points": 300, "granted": True}
    assert body["refunded_amount"] == 0
    assert body["created_at"].endswith("+09:00")  # JST

    # Another resident asking for it: not there (IDOR), the same as a number nobody used.
    stolen = await receipt_of(client, other, str(line["id"]))
    assert stolen.status_code == 404
    assert stolen.json()["type"].endswith("/transaction-not-found")
    unknown = (await receipt_of(client, other, "pay_0000")).json()
    same = ("type", "title", "status")
    assert [unknown[k] for k in same] == [stolen.json()[k] for k in same]
    assert (await client.get(f"/api/v1/wallet/transactions/{line['id']}")).status_code == 401
    assert (await receipt_of(client, resident, "x" * 41)).status_code == 422
    assert (await receipt_of(client, resident, "pay%20;drop")).status_code == 422


async def test_a_refund_line_names_the_shop_and_the_points_taken_back(
    client: httpx.AsyncClient, ward: Ward
) -> None:
    await ward.launch(budget=10_000, merchant_rate_bp=0)
    shop = await ward.shop(name="まちの八百屋")
    elsewhere = await ward.shop(shopping_street_id=1)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 2_000)
    payment = (await pay(client, resident, await sticker_payload(client, shop), 1_000)).json()
    # 300 reward points earned; 250 of them spent at another shop.
    spent = await pay(client, resident, await sticker_payload(client, elsewhere), 250)
    assert spent.json()["paid_with"] == {"points": 250, "money": 0}

    done = await refund(client, shop.headers, payment["id"], 1_000)
    assert done.status_code == 201, done.text
    line = next(item for item in await history(client, resident) if item["kind"] == "refund")
    assert line["counterparty"] == "まちの八百屋"
    assert line["points_revoked"] == 300
    assert (line["money_change"], line["points_change"]) == (750, -50)

    opened = (await receipt_of(client, resident, str(line["id"]))).json()
    assert opened["merchant"]["name"] == "まちの八百屋"
    assert opened["refund"] == {
        "payment_id": payment["id"],
        "points_back": 0,
        "money_back": 1_000,
        "points_revoked": 300,
        "money_withheld": 250,
    }
    # A refund line written before 0022 had no shop; the migration's update names it.
    async with ward.app.state.sessionmaker() as session:
        await session.execute(
            text("UPDATE wallet_transactions SET counterparty = NULL WHERE reference = :r"),
            {"r": line["id"]},
        )
        await session.execute(text(refund_lines_migration().NAME_REFUND_LINES_SHOPS))
        await session.commit()
    again = next(item for item in await history(client, resident) if item["kind"] == "refund")
    assert again["counterparty"] == "まちの八百屋"

    # The payment's own receipt now says how much of it came back.
    assert (await receipt_of(client, resident, payment["id"])).json()["refunded_amount"] == 1_000


async def test_a_transfer_line_opens_for_each_side_with_its_own_amounts(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client, name="山田 花子"), await register(client, name="佐藤 一郎")
    await top_up(client, alice.wallet_id, 1_000)
    sent = await client.post(
        "/api/v1/transfers",
        json={"to_phone": bob.phone, "amount": 300, "message": "お昼代"},
        headers=alice.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    mine = (await receipt_of(client, alice, sent.json()["id"])).json()
    theirs = (await receipt_of(client, bob, sent.json()["id"])).json()
    assert (mine["kind"], mine["money_change"], mine["counterparty"]) == (
        "p2p_out",
        -300,
        "佐藤 一郎",
    )
    assert (theirs["kind"], theirs["money_change"], theirs["counterparty"]) == (
        "p2p_in",
        300,
        "山田 花子",
    )
    assert mine["merchant"] is None and mine["message"] == "お昼代"


def test_aiueo_order_puts_voiced_and_small_kana_with_their_plain_letter() -> None:
    readings = ["たいしどう", "だいざわ", "まつばら", "まつざわ", "きょうどう", "きよ"]
    assert sorted(readings, key=aiueo_key) == [
        "きよ",
        "きょうどう",
        "だいざわ",
        "たいしどう",
        "まつざわ",
        "まつばら",
    ]


async def test_districts_are_listed_in_aiueo_order(client: httpx.AsyncClient) -> None:
    names = [d["name"] for d in (await client.get("/api/v1/districts")).json()]
    assert len(names) == 28
    assert names[:4] == ["池尻", "梅丘", "奥沢", "上馬"]
    assert names.index("代沢") < names.index("太子堂") < names.index("等々力")
    assert names[-1] == "若林"
