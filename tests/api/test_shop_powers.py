"""Who may do what in a shop and over it: owner and staff, suspended shops, and the two
people a shop's approval takes (DESIGN.md 7)."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from identity import create_user
from machipay.auth import Role
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, application, open_shop, staff_token, sticker_payload
from tests.api.test_payments import pay

PROBLEM = "application/problem+json"


async def paid_payment(client: httpx.AsyncClient, shop: ShopHandle, amount: int) -> str:
    resident: ResidentHandle = await register(client)
    assert (await top_up(client, resident.wallet_id, amount)).status_code == 200
    done = await pay(client, resident, await sticker_payload(client, shop), amount)
    assert done.status_code == 201, done.text
    return str(done.json()["id"])


async def refund(
    client: httpx.AsyncClient, headers: dict[str, str], payment_id: str, amount: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/merchant/payments/{payment_id}/refunds",
        json={"amount": amount},
        headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def shop_staff(client: httpx.AsyncClient, app: FastAPI, shop: ShopHandle) -> dict[str, str]:
    username, password = f"staff-{uuid.uuid4().hex[:8]}", "staff-passphrase-123"
    async with app.state.sessionmaker() as session:
        await create_user(
            session,
            username=username,
            password=password,
            role=Role.MERCHANT_STAFF,
            merchant_id=shop.id,
        )
        await session.commit()
    token = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_a_suspended_shop_cannot_refund(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    payment_id = await paid_payment(client, shop, 2_000)
    officer = await staff_token(client, app, Role.OFFICER)
    suspended = await client.post(
        f"/api/v1/merchants/{shop.id}/suspend", json={"reason": "調査のため"}, headers=officer
    )
    assert suspended.status_code == 200, suspended.text
    refused = await refund(client, shop.headers, payment_id, 1_000)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/merchant-not-active")
    # Reinstated, it refunds again; reading its payments never stopped.
    assert (await client.get("/api/v1/merchant/payments", headers=shop.headers)).status_code == 200
    await client.post(f"/api/v1/merchants/{shop.id}/reinstate", headers=officer)
    assert (await refund(client, shop.headers, payment_id, 1_000)).status_code == 201


async def test_staff_take_payments_and_refund_up_to_a_limit(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    staff = await shop_staff(client, app, shop)
    charge = await client.post("/api/v1/merchant/charges", json={"amount": 500}, headers=staff)
    assert charge.status_code == 201, charge.text
    payment_id = await paid_payment(client, shop, 25_000)
    # MACHIPAY_MERCHANT_STAFF_REFUND_LIMIT, ¥10,000 by default: more is the owner's call.
    over = await refund(client, staff, payment_id, 10_001)
    assert over.status_code == 403, over.text
    assert over.headers["content-type"] == PROBLEM
    assert over.json()["type"].endswith("/refund-over-staff-limit")
    assert (await refund(client, staff, payment_id, 10_000)).status_code == 201
    assert (await refund(client, shop.headers, payment_id, 15_000)).status_code == 201


async def test_a_shop_is_approved_by_two_different_people(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = f"shop-{uuid.uuid4().hex[:10]}"
    applied = await client.post("/api/v1/merchants", json=application(owner))
    assert applied.status_code == 201, applied.text
    merchant_id = applied.json()["id"]
    officer = await staff_token(client, app, Role.OFFICER)
    first = await client.post(f"/api/v1/merchants/{merchant_id}/approve", headers=officer)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending"
    assert first.json()["awaiting_second_approval"] is True
    # One person's approval does not open the shop, however often it is given.
    again = await client.post(f"/api/v1/merchants/{merchant_id}/approve", headers=officer)
    assert again.status_code == 403, again.text
    assert again.headers["content-type"] == PROBLEM
    assert again.json()["type"].endswith("/merchant-self-approval")
    token = await client.post(
        "/api/v1/auth/token", json={"username": owner, "password": "owner-passphrase-123"}
    )
    owner_headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await client.get("/api/v1/merchant/qr", headers=owner_headers)).status_code == 409
    queue = await client.get("/api/v1/merchants", params={"status": "pending"}, headers=officer)
    listed = {m["id"]: m for m in queue.json()}[merchant_id]
    assert listed["first_approved_by"] is not None and listed["first_approved_at"] is not None
    # A second person opens it.
    operator = await staff_token(client, app, Role.OPERATOR)
    second = await client.post(f"/api/v1/merchants/{merchant_id}/approve", headers=operator)
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "active"
    assert second.json()["awaiting_second_approval"] is False
    assert (await client.get("/api/v1/merchant/qr", headers=owner_headers)).status_code == 200
    assert (
        await client.post(f"/api/v1/merchants/{merchant_id}/approve", headers=officer)
    ).status_code == 409
