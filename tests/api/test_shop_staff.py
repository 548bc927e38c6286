"""Owners manage their shop's staff logins (add, list, limit, remove) and every till
payment names who took it (DESIGN.md 7: staff are the owner's, never each other's)."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.api.conftest import register, top_up
from tests.api.shops import ShopHandle, open_shop, sticker_payload
from tests.api.test_payments import pay
from tests.api.test_shop_powers import paid_payment, refund

PROBLEM = "application/problem+json"
STAFF_PASSWORD = "till-passphrase-2026"


async def add_staff(
    client: httpx.AsyncClient, shop: ShopHandle, username: str, **extra: object
) -> httpx.Response:
    return await client.post(
        "/api/v1/merchant/staff",
        json={"username": username, "password": STAFF_PASSWORD, **extra},
        headers=shop.headers,
    )


async def sign_in(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    token = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": STAFF_PASSWORD}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_owner_adds_staff_who_take_payments_the_list_names_them(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    name = f"till-{uuid.uuid4().hex[:6]}"
    # Typed as an IME gives it: full-width and upper case; stored as sign-in reads it.
    typed = name.upper().translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    added = await add_staff(client, shop, typed)
    assert added.status_code == 201, added.text
    member = added.json()
    assert member["username"] == name
    assert member["refund_limit"] == 10_000 and member["refund_limit_is_default"] is True
    listed = await client.get("/api/v1/merchant/staff", headers=shop.headers)
    assert [m["username"] for m in listed.json()["items"]] == [name]
    assert listed.json()["default_refund_limit"] == 10_000
    # The same name again, a bad name, a weak password: refused.
    assert (await add_staff(client, shop, name)).status_code == 409
    assert (await add_staff(client, shop, "a b")).status_code == 422
    weak = await client.post(
        "/api/v1/merchant/staff",
        json={"username": f"x{name}", "password": "password"},
        headers=shop.headers,
    )
    assert weak.status_code == 422, weak.text

    staff = await sign_in(client, name)
    # A code captured at the till by the staff member.
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 10_000)).status_code == 200
    code = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    captured = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": code.json()["code"], "amount": 1_200},
        headers=staff | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert captured.status_code == 201, captured.text
    # A charge the staff member showed, paid by the resident.
    charge = await client.post("/api/v1/merchant/charges", json={"amount": 800}, headers=staff)
    assert charge.status_code == 201, charge.text
    dynamic = await pay(client, resident, charge.json()["qr_payload"], None)
    assert dynamic.status_code == 201, dynamic.text
    # The resident at the sticker, on their own.
    sticker = await pay(client, resident, await sticker_payload(client, shop), 500)
    assert sticker.status_code == 201, sticker.text
    # The owner's own capture names the owner.
    code = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    by_owner = await client.post(
        "/api/v1/merchant/cpm-payments",
        json={"code": code.json()["code"], "amount": 300},
        headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert by_owner.status_code == 201, by_owner.text

    day = await client.get("/api/v1/merchant/payments", headers=shop.headers)
    assert day.status_code == 200, day.text
    takers = {p["id"]: (p["taken_by"] or {}).get("username") for p in day.json()["payments"]}
    assert takers == {
        captured.json()["id"]: name,
        dynamic.json()["id"]: name,
        sticker.json()["id"]: None,
        by_owner.json()["id"]: shop.username,
    }
    # Staff see the same list (they work the till) and the CSV names them too.
    assert (await client.get("/api/v1/merchant/payments", headers=staff)).status_code == 200
    csv = await client.get("/api/v1/merchant/payments.csv", headers=shop.headers)
    assert f",{name}\r\n" in csv.text and ",店頭QR\r\n" in csv.text


async def test_staff_cannot_manage_staff(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    name = f"till-{uuid.uuid4().hex[:6]}"
    member = (await add_staff(client, shop, name)).json()
    staff = await sign_in(client, name)
    for method, path, body in (
        ("GET", "/api/v1/merchant/staff", None),
        ("POST", "/api/v1/merchant/staff", {"username": "sneaky", "password": STAFF_PASSWORD}),
        ("PATCH", f"/api/v1/merchant/staff/{member['id']}", {"refund_limit": 300_000}),
        ("DELETE", f"/api/v1/merchant/staff/{member['id']}", None),
    ):
        refused = await client.request(method, path, json=body, headers=staff)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"] == PROBLEM
    # Another shop's owner cannot touch this shop's staff either.
    other = await open_shop(client, app, shopping_street_id=None)
    for method, body in (("PATCH", {"refund_limit": 1}), ("DELETE", None)):
        hidden = await client.request(
            method, f"/api/v1/merchant/staff/{member['id']}", json=body, headers=other.headers
        )
        assert hidden.status_code == 404, hidden.text
    assert (await client.get("/api/v1/merchant/payments", headers=staff)).status_code == 200


async def test_removing_staff_ends_its_sessions_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    name = f"till-{uuid.uuid4().hex[:6]}"
    member = (await add_staff(client, shop, name)).json()
    token = await client.post(
        "/api/v1/auth/token", json={"username": name, "password": STAFF_PASSWORD}
    )
    staff = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await client.get("/api/v1/merchant/payments", headers=staff)).status_code == 200
    removed = await client.delete(f"/api/v1/merchant/staff/{member['id']}", headers=shop.headers)
    assert removed.status_code == 204, removed.text
    # The access token it holds, its refresh token and its password: all stop now.
    assert (await client.get("/api/v1/merchant/payments", headers=staff)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": token.json()["refresh_token"]}
    )
    assert refreshed.status_code == 401
    again = await client.post(
        "/api/v1/auth/token", json={"username": name, "password": STAFF_PASSWORD}
    )
    assert again.status_code == 401
    listed = await client.get("/api/v1/merchant/staff", headers=shop.headers)
    assert listed.json()["items"] == []
    # Removing twice: there is nobody left to remove.
    gone = await client.delete(f"/api/v1/merchant/staff/{member['id']}", headers=shop.headers)
    assert gone.status_code == 404


async def test_each_staff_member_refunds_up_to_their_own_limit(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app, shopping_street_id=None)
    low, high = f"low-{uuid.uuid4().hex[:6]}", f"high-{uuid.uuid4().hex[:6]}"
    assert (await add_staff(client, shop, low, refund_limit=2_000)).status_code == 201
    high_member = (await add_staff(client, shop, high)).json()
    low_staff, high_staff = await sign_in(client, low), await sign_in(client, high)
    payment_id = await paid_payment(client, shop, 40_000)

    over = await refund(client, low_staff, payment_id, 2_001)
    assert over.status_code == 403, over.text
    assert over.json()["type"].endswith("/refund-over-staff-limit")
    assert over.json()["refund_limit"] == 2_000
    assert (await refund(client, low_staff, payment_id, 2_000)).status_code == 201
    # The other one has the default until the owner raises it.
    assert (await refund(client, high_staff, payment_id, 10_001)).status_code == 403
    raised = await client.patch(
        f"/api/v1/merchant/staff/{high_member['id']}",
        json={"refund_limit": 20_000},
        headers=shop.headers,
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["refund_limit"] == 20_000
    assert raised.json()["refund_limit_is_default"] is False
    assert (await refund(client, high_staff, payment_id, 15_000)).status_code == 201
    # Back to the default with null; a limit above a payment's maximum means nothing.
    reset = await client.patch(
        f"/api/v1/merchant/staff/{high_member['id']}",
        json={"refund_limit": None},
        headers=shop.headers,
    )
    assert reset.json()["refund_limit"] == 10_000
    assert (await refund(client, high_staff, payment_id, 10_001)).status_code == 403
    too_high = await client.patch(
        f"/api/v1/merchant/staff/{high_member['id']}",
        json={"refund_limit": 300_001},
        headers=shop.headers,
    )
    assert too_high.status_code == 422
    # The owner refunds what is left, whatever the amount.
    assert (await refund(client, shop.headers, payment_id, 23_000)).status_code == 201
