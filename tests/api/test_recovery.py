"""Getting back into an account: password reset by SMS, owners resetting their staff's
passwords; and the SMS backends (sink, HTTP gateway) as configured."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from assembly.app import create_app
from identity import create_user
from machipay.auth import Role
from machipay.phone import normalize_phone
from machipay.settings import Settings
from machipay.sms import HttpSms
from tests.api.conftest import new_phone, register
from tests.api.shops import open_shop, staff_token
from tests.sms import last_code, texts_to

CODE_INVALID = "https://machipay.example/problems/code-invalid"
NEW_PASSWORD = "a-brand-new-passphrase"


async def ask_reset(client: httpx.AsyncClient, username: str) -> httpx.Response:
    return await client.post("/api/v1/auth/password-reset", json={"username": username})


async def confirm(
    client: httpx.AsyncClient, username: str, code: str, new_password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"username": username, "code": code, "new_password": new_password},
    )


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


async def test_a_resident_resets_the_password_and_every_session_ends(
    client: httpx.AsyncClient,
) -> None:
    resident = await register(client)
    other_device = (await sign_in(client, resident.phone, resident.password)).json()
    asked = await ask_reset(client, resident.phone)
    assert (asked.status_code, asked.content) == (202, b"")
    code = await last_code(client, resident.phone)
    assert "再設定コード" in (await texts_to(client, resident.phone))[0].text

    done = await confirm(client, resident.phone, code)
    assert done.status_code == 204, done.text
    # Every session of the account is over: refresh tokens and access tokens alike.
    for refresh in (resident.refresh, other_device["refresh_token"]):
        answer = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
        assert answer.status_code == 401
    for access in (resident.access, other_device["access_token"]):
        answer = await client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {access}"})
        assert answer.status_code == 401
    assert (await sign_in(client, resident.phone, resident.password)).status_code == 401
    assert (await sign_in(client, resident.phone, NEW_PASSWORD)).status_code == 200
    # The code was single use.
    again = await confirm(client, resident.phone, code, "yet-another-passphrase")
    assert (again.status_code, again.json()["type"]) == (422, CODE_INVALID)


async def test_unknown_usernames_get_the_same_202_and_no_text(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    nobody = new_phone()
    answers = [
        await ask_reset(client, resident.phone),
        await ask_reset(client, nobody),
        await ask_reset(client, "no-such-shop-owner"),
    ]
    assert {(a.status_code, a.content) for a in answers} == {(202, b"")}
    assert [a.headers.get("content-length") for a in answers] == ["0"] * 3
    assert await texts_to(client, nobody) == []
    # A made-up username's confirm reads like a wrong code.
    made_up = await confirm(client, "no-such-shop-owner", "123456")
    wrong = await confirm(client, resident.phone, "000000")
    assert made_up.status_code == wrong.status_code == 422
    assert made_up.json() == wrong.json()


async def test_reset_requests_per_username_are_limited_whether_or_not_it_exists(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.password_resets_per_username_per_hour = 2
    resident = await register(client)
    for username in (resident.phone, "nobody-at-all"):
        statuses = [(await ask_reset(client, username)).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]


async def test_a_weak_new_password_keeps_the_code(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    await ask_reset(client, resident.phone)
    code = await last_code(client, resident.phone)
    weak = await confirm(client, resident.phone, code, "short")
    assert weak.status_code == 422 and weak.json()["field"] == "new_password"
    assert (await confirm(client, resident.phone, code)).status_code == 204


async def test_a_shop_owner_resets_by_the_phone_given_when_applying(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    phone = new_phone()
    shop = await open_shop(client, app, owner_phone=phone)
    owner_session = shop.headers
    assert (await ask_reset(client, shop.username.upper())).status_code == 202
    code = await last_code(client, phone)
    assert (await confirm(client, shop.username, code)).status_code == 204
    assert (await client.get("/api/v1/merchant", headers=owner_session)).status_code == 401
    assert (await sign_in(client, shop.username, NEW_PASSWORD)).status_code == 200


async def test_an_owner_phone_is_validated(client: httpx.AsyncClient, app: FastAPI) -> None:
    from tests.api.shops import application

    refused = await client.post(
        "/api/v1/merchants", json=application("shop-badphone", owner_phone="+1 415 555 0100")
    )
    assert refused.status_code == 422 and refused.json()["field"] == "owner_phone"


async def test_staff_and_ward_logins_are_not_reset_by_sms(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app, owner_phone=new_phone())
    async with app.state.sessionmaker() as session:
        staff = await create_user(
            session,
            username=f"till-{uuid.uuid4().hex[:6]}",
            password="staff-passphrase-123",
            role=Role.MERCHANT_STAFF,
            merchant_id=shop.id,
        )
        officer = await create_user(
            session, username="officer-reset", password="staff-passphrase-123", role=Role.OFFICER
        )
        await session.commit()
    for user in (staff, officer):
        assert (await ask_reset(client, user.username)).status_code == 202
        async with app.state.sessionmaker() as session:
            codes = (
                await session.execute(
                    text("SELECT count(*) FROM phone_codes WHERE user_id = :id"), {"id": user.id}
                )
            ).scalar_one()
        assert codes == 0


async def test_an_owner_resets_their_staffs_password_and_no_one_elses(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop, other_shop = await open_shop(client, app), await open_shop(client, app)
    async with app.state.sessionmaker() as session:
        mine = await create_user(
            session,
            username=f"till-{uuid.uuid4().hex[:6]}",
            password="staff-passphrase-123",
            role=Role.MERCHANT_STAFF,
            merchant_id=shop.id,
        )
        theirs = await create_user(
            session,
            username=f"till-{uuid.uuid4().hex[:6]}",
            password="staff-passphrase-123",
            role=Role.MERCHANT_STAFF,
            merchant_id=other_shop.id,
        )
        await session.commit()
    staff_access = (await sign_in(client, mine.username, "staff-passphrase-123")).json()

    listed = await client.get("/api/v1/merchant/staff", headers=shop.headers)
    assert [(m["id"], m["username"]) for m in listed.json()["items"]] == [(mine.id, mine.username)]
    body = {"new_password": NEW_PASSWORD}
    reset = await client.post(
        f"/api/v1/merchant/staff/{mine.id}/password", json=body, headers=shop.headers
    )
    assert reset.status_code == 204, reset.text
    stale = {"Authorization": f"Bearer {staff_access['access_token']}"}
    assert (await client.get("/api/v1/merchant", headers=stale)).status_code == 401
    assert (await sign_in(client, mine.username, NEW_PASSWORD)).status_code == 200

    for target in (theirs.id, shop.id, 10**9):
        refused = await client.post(
            f"/api/v1/merchant/staff/{target}/password", json=body, headers=shop.headers
        )
        assert refused.status_code == 404, refused.text
    # Staff cannot reset anyone's password, their own included.
    as_staff = {
        "Authorization": "Bearer "
        + (await sign_in(client, mine.username, NEW_PASSWORD)).json()["access_token"]
    }
    refused = await client.post(
        f"/api/v1/merchant/staff/{mine.id}/password", json=body, headers=as_staff
    )
    assert refused.status_code == 403


# -- the SMS backends ---------------------------------------------------------------------


def test_production_refuses_the_sink_and_an_unconfigured_gateway() -> None:
    strong = Settings(
        environment="production",
        secret_key="s" * 40,
        funding_webhook_secret="w" * 40,
        analytics_pseudonym_secret="p" * 40,
    )
    with pytest.raises(RuntimeError, match="MACHIPAY_SMS_BACKEND"):
        strong.refuse_unsafe_secrets()
    gateway = strong.model_copy(update={"sms_backend": "http"})
    with pytest.raises(RuntimeError, match="MACHIPAY_SMS_GATEWAY_URL, MACHIPAY_SMS_API_KEY"):
        gateway.refuse_unsafe_secrets()
    plain_http = gateway.model_copy(
        update={"sms_gateway_url": "http://sms.example/send", "sms_api_key": "k" * 32}
    )
    with pytest.raises(RuntimeError, match="MACHIPAY_SMS_GATEWAY_URL"):
        plain_http.refuse_unsafe_secrets()
    gateway.model_copy(
        update={"sms_gateway_url": "https://sms.example/send", "sms_api_key": "k" * 32}
    ).refuse_unsafe_secrets()


@pytest.fixture
async def gateway_app(app_settings: Settings) -> AsyncIterator[tuple[FastAPI, list[httpx.Request]]]:
    """The app with MACHIPAY_SMS_BACKEND=http, its gateway faked at the transport."""
    settings = app_settings.model_copy(
        update={
            "sms_backend": "http",
            "sms_gateway_url": "https://sms-gateway.example/v1/messages",
            "sms_api_key": "gateway-key-0123456789",
        }
    )
    seen: list[httpx.Request] = []
    application = create_app(settings, configure_logs=False)
    async with application.router.lifespan_context(application):
        await application.state.sms.close()

        def gateway(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            down = b"down" in request.content or len(seen) > 1
            return httpx.Response(500 if down else 200, json={"id": "m1"})

        application.state.sms = HttpSms(settings, transport=httpx.MockTransport(gateway))
        yield application, seen


async def test_the_gateway_gets_the_text_and_its_failure_is_a_problem(
    gateway_app: tuple[FastAPI, list[httpx.Request]],
) -> None:
    app, seen = gateway_app
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        phone = new_phone()
        body = {
            "phone": phone,
            "password": "a-long-passphrase-1",
            "display_name": "x",
            "birth_year": 1990,
            "district": "kitazawa",
        }
        created = await client.post("/api/v1/residents", json=body)
        assert created.status_code == 201, created.text
        sent = json.loads(seen[0].content)
        assert sent["to"] == normalize_phone(phone) and "確認コード" in sent["text"]
        assert sent["from"] == "MACHIPAY"
        assert seen[0].headers["authorization"] == "Bearer gateway-key-0123456789"
        # The gateway fails from now on: the registration fails with it, and makes nothing.
        other = new_phone()
        failed = await client.post("/api/v1/residents", json=body | {"phone": other})
        assert failed.status_code == 503
        assert failed.json()["type"] == "https://machipay.example/problems/sms-not-sent"
        async with app.state.sessionmaker() as session:
            made = (
                await session.execute(
                    text("SELECT count(*) FROM users WHERE username = :p"),
                    {"p": normalize_phone(other)},
                )
            ).scalar_one()
        assert made == 0
        # Without a sink there is nothing to list.
        operator = await staff_token(client, app, Role.OPERATOR)
        listed = await client.get("/api/v1/ops/sms", params={"to": phone}, headers=operator)
        assert listed.status_code == 404
