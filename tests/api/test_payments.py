"""Shops and payments over HTTP: static and dynamic QR, CPM codes, refunds, limits, races."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import timedelta

import httpx
import pytest
import zxingcpp
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import update

import ledger
from ledger import credit, debit
from machipay.auth import Role
from machipay.settings import Settings
from machipay.timeutil import utcnow
from payments.models import Charge
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, application, open_shop, staff_token, sticker_payload
from tests.conftest import ManualClock
from wallet_api import grant_points

PROBLEM = "application/problem+json"


async def pay(
    client: httpx.AsyncClient,
    resident: ResidentHandle,
    payload: str,
    amount: int | None = None,
    key: str | None = None,
) -> httpx.Response:
    body: dict[str, object] = {"qr_payload": payload}
    if amount is not None:
        body["amount"] = amount
    return await client.post(
        "/api/v1/payments",
        json=body,
        headers=resident.headers | {"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def money_points(client: httpx.AsyncClient, resident: ResidentHandle) -> tuple[int, int]:
    wallet = (await client.get("/api/v1/wallet", headers=resident.headers)).json()
    return wallet["money"], wallet["points"]


async def payable(app: FastAPI, shop: ShopHandle) -> int:
    async with app.state.sessionmaker() as session:
        return await ledger.get_balance(session, ledger.merchant_payable(shop.id))


async def verify_green(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        report = await ledger.verify_ledger(session)
    assert report.ok, [str(f) for f in report.findings]


async def give_points(app: FastAPI, resident: ResidentHandle, amount: int, days: int = 30) -> None:
    campaign = uuid.uuid4().int % 10**9
    async with app.state.sessionmaker() as session:
        budget = ledger.campaign_budget(campaign)
        await ledger.open_account(session, budget)
        await ledger.post_entry(
            session,
            idempotency_key=f"fund-{campaign}",
            kind="campaign_funding",
            legs=[debit(ledger.BANK_CITY, amount), credit(budget, amount)],
        )
        await grant_points(
            session,
            resident_id=resident.id,
            amount=amount,
            campaign_id=campaign,
            expires_at=utcnow() + timedelta(days=days),
            idempotency_key=uuid.uuid4().hex,
            counterparty="キャンペーン",
        )
        await session.commit()


# -- onboarding -----------------------------------------------------------------------------


async def test_reference_data_is_public(client: httpx.AsyncClient) -> None:
    streets = (await client.get("/api/v1/shopping-streets")).json()
    categories = (await client.get("/api/v1/merchant-categories")).json()
    assert len(streets) >= 13 and {"id", "name", "name_en", "district_id"} <= streets[0].keys()
    assert {
        "code": "grocery",
        "name": "食料品・青果",
        "name_en": "Grocery",
        "mcc": "5411",
    } in categories


async def test_officers_add_shopping_streets(client: httpx.AsyncClient, app: FastAPI) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    name = f"テスト商店街{uuid.uuid4().hex[:6]}"
    created = await client.post(
        "/api/v1/shopping-streets",
        json={"name": name, "name_en": "Test", "district_id": "taishido"},
        headers=officer,
    )
    assert created.status_code == 201
    again = await client.post(
        "/api/v1/shopping-streets",
        json={"name": name, "name_en": "Test", "district_id": "taishido"},
        headers=officer,
    )
    assert again.status_code == 409
    resident = await register(client)
    assert (
        await client.post(
            "/api/v1/shopping-streets",
            json={"name": "x", "name_en": "x", "district_id": "taishido"},
            headers=resident.headers,
        )
    ).status_code == 403


@pytest.mark.parametrize(
    "change",
    [
        {"category": "casino"},
        {"store_type": "huge"},
        {"postal_code": "100-0001"},
        {"name_kana": "shimokita"},
        {"shopping_street_id": 99999},
        {
            "bank": {
                "bank_code": "12",
                "branch_code": "123",
                "account_type": "ordinary",
                "account_number": "1234567",
                "account_name_kana": "ﾃｽﾄ",
            }
        },
        {
            "bank": {
                "bank_code": "0001",
                "branch_code": "123",
                "account_type": "ordinary",
                "account_number": "1234567",
                "account_name_kana": "test 漢字",
            }
        },
        {"owner_password": "short"},
    ],
)
async def test_applications_are_validated(
    client: httpx.AsyncClient, change: dict[str, object]
) -> None:
    response = await client.post(
        "/api/v1/merchants", json=application(f"shop-{uuid.uuid4().hex[:8]}", **change)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_a_pending_or_suspended_shop_cannot_be_paid(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = f"shop-{uuid.uuid4().hex[:8]}"
    applied = (await client.post("/api/v1/merchants", json=application(owner))).json()
    assert applied["status"] == "pending"
    token = (
        await client.post(
            "/api/v1/auth/token", json={"username": owner, "password": "owner-passphrase-123"}
        )
    ).json()
    pending_qr = await client.get(
        "/api/v1/merchant/qr", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert pending_qr.status_code == 409

    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 5_000)
    operator = await staff_token(client, app, Role.OPERATOR)
    assert (
        await client.post(
            f"/api/v1/merchants/{shop.id}/suspend", json={"reason": "調査のため"}, headers=operator
        )
    ).status_code == 200
    refused = await pay(client, resident, payload, 500)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/invalid-qr")
    assert (
        await client.post("/api/v1/qr/resolve", json={"payload": payload}, headers=resident.headers)
    ).status_code == 422
    assert (
        await client.post(f"/api/v1/merchants/{shop.id}/reinstate", headers=operator)
    ).status_code == 200
    assert (await pay(client, resident, payload, 500)).status_code == 201
    # Residents and shops cannot approve or suspend.
    assert (
        await client.post(
            f"/api/v1/merchants/{shop.id}/suspend",
            json={"reason": "調査のため"},
            headers=resident.headers,
        )
    ).status_code == 403


# -- paying -----------------------------------------------------------------------------------


async def test_pay_by_static_qr(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 5_000)
    resolved = await client.post(
        "/api/v1/qr/resolve", json={"payload": payload}, headers=resident.headers
    )
    assert resolved.json() == {
        "merchant": {
            "id": shop.id,
            "name": "下北沢八百屋",
            "shopping_street": "下北沢一番街商店街",
        },
        "amount": None,
        "charge_id": None,
        "reward": None,  # no campaign covers this shop
    }
    paid = await pay(client, resident, payload, 1_200)
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert (body["status"], body["amount"], body["paid_with"]) == (
        "completed",
        1_200,
        {"points": 0, "money": 1_200},
    )
    assert body["rewards"] == {"resident_points": 0, "merchant_cashback": 0, "granted": True}
    assert await money_points(client, resident) == (3_800, 0)
    assert await payable(app, shop) == 1_200
    assert (
        await pay(client, resident, payload)
    ).status_code == 422  # a static code needs an amount
    await verify_green(app)


async def test_points_are_spent_first(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 5_000)
    await give_points(app, resident, 300)
    paid = (await pay(client, resident, await sticker_payload(client, shop), 1_000)).json()
    assert paid["paid_with"] == {"points": 300, "money": 700}
    assert await money_points(client, resident) == (4_300, 0)
    history = (await client.get("/api/v1/wallet/transactions", headers=resident.headers)).json()[
        "items"
    ][0]
    assert (
        history["kind"],
        history["money_change"],
        history["points_change"],
        history["counterparty"],
    ) == ("payment", -700, -300, "下北沢八百屋")
    await verify_green(app)


async def test_insufficient_funds_writes_nothing(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 500)
    await give_points(app, resident, 100)
    refused = await pay(client, resident, await sticker_payload(client, shop), 601)
    assert refused.status_code == 402 and refused.headers["content-type"] == PROBLEM
    assert await money_points(client, resident) == (500, 100)  # the points were not spent either
    assert await payable(app, shop) == 0


async def test_single_payment_cap(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    app_settings.max_payment = 1_000
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 5_000)
    refused = await pay(client, resident, await sticker_payload(client, shop), 1_001)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/payment-limit-exceeded")


async def test_dynamic_qr_pays_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    charge = await client.post(
        "/api/v1/merchant/charges", json={"amount": 2_480}, headers=shop.headers
    )
    assert charge.status_code == 201
    payload = charge.json()["qr_payload"]
    resident = await register(client)
    await top_up(client, resident.wallet_id, 10_000)
    resolved = (
        await client.post("/api/v1/qr/resolve", json={"payload": payload}, headers=resident.headers)
    ).json()
    assert (resolved["amount"], resolved["charge_id"]) == (2_480, charge.json()["id"])
    assert (
        await pay(client, resident, payload, 2_000)
    ).status_code == 422  # not the charge's amount
    first = await pay(client, resident, payload)
    assert first.status_code == 201 and first.json()["amount"] == 2_480
    second = await pay(client, resident, payload)
    assert second.status_code == 422 and second.json()["type"].endswith("/charge-unusable")
    assert await money_points(client, resident) == (7_520, 0)


async def test_an_expired_dynamic_qr_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    charge = (
        await client.post("/api/v1/merchant/charges", json={"amount": 900}, headers=shop.headers)
    ).json()
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Charge)
            .where(Charge.reference == charge["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    resident = await register(client)
    await top_up(client, resident.wallet_id, 1_000)
    refused = await pay(client, resident, charge["qr_payload"])
    assert refused.status_code == 422 and "expired" in refused.json()["detail"]


async def test_sticker_images_decode_to_the_payload(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    png = await client.get("/api/v1/merchant/qr", params={"format": "png"}, headers=shop.headers)
    assert png.headers["content-type"] == "image/png"
    assert [d.text for d in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))] == [
        payload
    ]
    svg = await client.get("/api/v1/merchant/qr", params={"format": "svg"}, headers=shop.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    page = await client.get("/api/v1/merchant/qr/sticker", headers=shop.headers)
    assert "下北沢八百屋" in page.text and "<svg" in page.text
    # The A6 page size comes from its stylesheet (no inline style under the CSP).
    assert "/static/css/sticker.css" in page.text
    stylesheet = await client.get("/static/css/sticker.css")
    assert stylesheet.status_code == 200 and "size: A6" in stylesheet.text


# -- consumer-presented codes -------------------------------------------------------------------


async def test_one_time_code_pays_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 3_000)
    issued = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    assert issued.status_code == 201
    code = issued.json()["code"]
    assert len(code) == 18 and code.isdigit() and issued.json()["qr_payload"] == code

    async def capture(amount: int) -> httpx.Response:
        return await client.post(
            "/api/v1/merchant/cpm-payments",
            json={"code": code, "amount": amount},
            headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )

    first = await capture(800)
    assert first.status_code == 201, first.text
    assert first.json()["paid_with"] == {"points": 0, "money": 800}
    second = await capture(800)
    assert second.status_code == 422 and second.json()["type"].endswith("/code-unusable")
    assert await money_points(client, resident) == (2_200, 0)


async def test_one_time_code_expires(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings, clock: ManualClock
) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 3_000)
    codes = []
    for _ in range(2):
        issued = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
        codes.append(issued.json()["code"])
    clock.advance(app_settings.one_time_code_ttl_seconds - 1)
    in_time = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": codes[0], "amount": 100},
        headers=shop.headers | {"Idempotency-Key": "in-time"},
    )
    assert in_time.status_code == 201, in_time.text
    clock.advance(1)
    late = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": codes[1], "amount": 100},
        headers=shop.headers | {"Idempotency-Key": "late"},
    )
    assert late.status_code == 422
    assert late.json()["type"].endswith("/code-unusable")
    unknown = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": "98" + "0" * 16, "amount": 100},
        headers=shop.headers | {"Idempotency-Key": "unknown"},
    )
    assert unknown.status_code == 422


async def test_one_time_code_typed_in_full_width_with_spaces_pays(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 1_000)
    code = (await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)).json()[
        "code"
    ]
    typed = " ".join(code[i : i + 4] for i in range(0, 18, 4)).translate(
        str.maketrans("0123456789 ", "０１２３４５６７８９\u3000")
    )
    paid = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": typed, "amount": 300},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 201, paid.text
    assert await money_points(client, resident) == (700, 0)


async def test_one_time_codes_are_rate_limited(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.one_time_codes_per_minute = 3
    resident = await register(client)
    statuses = [
        (await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)).status_code
        for _ in range(4)
    ]
    assert statuses == [201, 201, 201, 429]


# -- refunds --------------------------------------------------------------------------------------


async def refund(
    client: httpx.AsyncClient, shop: ShopHandle, payment_id: str, amount: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/merchant/payments/{payment_id}/refunds",
        json={"amount": amount},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_partial_refunds_add_up_to_the_payment_in_its_own_proportion(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 10_000)
    await give_points(app, resident, 333)
    paid = (await pay(client, resident, await sticker_payload(client, shop), 1_000)).json()
    assert paid["paid_with"] == {"points": 333, "money": 667}
    parts = [await refund(client, shop, paid["id"], amount) for amount in (250, 250, 499)]
    assert [p.status_code for p in parts] == [201, 201, 201]
    last = await refund(client, shop, paid["id"], 1)
    assert last.status_code == 201
    assert sum(p.json()["points_back"] for p in [*parts, last]) == 333
    assert sum(p.json()["money_back"] for p in [*parts, last]) == 667
    over = await refund(client, shop, paid["id"], 1)
    assert over.status_code == 409 and over.json()["type"].endswith("/refund-refused")
    assert await money_points(client, resident) == (10_000, 333)
    assert await payable(app, shop) == 0
    day = (await client.get("/api/v1/merchant/payments", headers=shop.headers)).json()
    assert (day["count"], day["gross"], day["refunded"], day["net"]) == (1, 1_000, 1_000, 0)
    assert day["payments"][0]["refund_status"] == "full"
    await verify_green(app)


async def test_another_shop_cannot_refund_the_payment(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop_a, shop_b = await open_shop(client, app), await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 2_000)
    paid = (await pay(client, resident, await sticker_payload(client, shop_a), 1_000)).json()
    await pay(client, resident, await sticker_payload(client, shop_b), 1_000)
    stolen = await refund(client, shop_b, paid["id"], 500)
    assert stolen.status_code == 404
    assert await money_points(client, resident) == (0, 0)


async def test_refund_window(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 2_000)
    paid = (await pay(client, resident, await sticker_payload(client, shop), 1_000)).json()
    app_settings.refund_window_days = 1
    from payments.models import Payment

    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Payment)
            .where(Payment.reference == paid["id"])
            .values(created_at=utcnow() - timedelta(days=2))
        )
        await session.commit()
    late = await refund(client, shop, paid["id"], 100)
    assert late.status_code == 409 and "1 days" in late.json()["detail"]


async def test_merchant_csv_opens_in_excel(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 2_000)
    await pay(client, resident, await sticker_payload(client, shop), 1_234)
    csv_response = await client.get("/api/v1/merchant/payments.csv", headers=shop.headers)
    assert csv_response.content.startswith("\ufeff".encode())
    text = csv_response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("日時,支払ID,金額")
    assert ",1234," in text


# -- races ----------------------------------------------------------------------------------------


async def test_a_hundred_residents_pay_one_shop_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    residents = [await register(client) for _ in range(100)]
    for r in residents:
        await top_up(client, r.wallet_id, 1_000)
    responses = await asyncio.gather(*(pay(client, r, payload, 777) for r in residents))
    assert [r.status_code for r in responses] == [201] * 100
    assert await payable(app, shop) == 100 * 777
    await verify_green(app)


async def test_one_resident_with_funds_for_five_of_twenty(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    resident = await register(client)
    await top_up(client, resident.wallet_id, 5_000)
    responses = await asyncio.gather(*(pay(client, resident, payload, 1_000) for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [201] * 5 + [402] * 15
    assert await money_points(client, resident) == (0, 0)
    assert await payable(app, shop) == 5_000
