"""Phone verification by SMS, and registration that does not tell which numbers are taken."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from machipay.auth import Role
from machipay.phone import normalize_phone
from machipay.settings import Settings
from tests.api.conftest import ResidentHandle, new_phone, register, top_up
from tests.api.shops import open_shop, staff_token, sticker_payload
from tests.conftest import ManualClock
from tests.sms import code_in, last_code, texts_to
from wallet_api import PhoneNotVerified, wallet_lock_refusals

PHONE_NOT_VERIFIED = "https://machipay.example/problems/phone-not-verified"
CODE_INVALID = "https://machipay.example/problems/code-invalid"


def registration(phone: str, **changes: object) -> dict[str, object]:
    return {
        "phone": phone,
        "password": f"pw-{uuid.uuid4().hex[:12]}",
        "display_name": "山田 花子",
        "birth_year": 1985,
        "district": "kitazawa",
    } | changes


async def verify(client: httpx.AsyncClient, phone: str, code: str) -> httpx.Response:
    return await client.post("/api/v1/residents/verify", json={"phone": phone, "code": code})


async def pay(
    client: httpx.AsyncClient, resident: ResidentHandle, payload: str, amount: int
) -> httpx.Response:
    return await client.post(
        "/api/v1/payments",
        json={"qr_payload": payload, "amount": amount},
        headers={**resident.headers, "Idempotency-Key": uuid.uuid4().hex},
    )


async def send(
    client: httpx.AsyncClient, sender: ResidentHandle, phone: str, amount: int
) -> httpx.Response:
    return await client.post(
        "/api/v1/transfers",
        json={"to_phone": phone, "amount": amount},
        headers={**sender.headers, "Idempotency-Key": uuid.uuid4().hex},
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_pending_wallet_can_sign_in_but_not_move_money_until_verified(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    friend = await register(client)
    resident = await register(client, verify=False)
    await top_up(client, resident.wallet_id, 5_000)  # top-ups land: the money is their own
    wallet = (await client.get("/api/v1/wallet", headers=resident.headers)).json()
    assert (wallet["verification"], wallet["money"]) == ("pending", 5_000)

    refused = [
        await pay(client, resident, payload, 100),
        await client.post("/api/v1/wallet/one-time-code", headers=resident.headers),
        await send(client, resident, friend.phone, 100),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == PHONE_NOT_VERIFIED

    verified = await verify(client, resident.phone, await last_code(client, resident.phone))
    assert (verified.status_code, verified.json()) == (200, {"verification": "verified"})
    assert (await pay(client, resident, payload, 100)).status_code == 201
    assert (await send(client, resident, friend.phone, 100)).status_code == 201
    code = await client.post("/api/v1/wallet/one-time-code", headers=resident.headers)
    assert code.status_code == 201, code.text
    wallet = (await client.get("/api/v1/wallet", headers=resident.headers)).json()
    assert (wallet["verification"], wallet["money"]) == ("verified", 4_800)


async def test_the_payers_lock_is_the_payment_paths_gate(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A payment reads the payer only under its row lock (no read before it): the lock
    function itself refuses an unverified phone, and the answer is the gate's."""
    resident = await register(client, verify=False)
    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError, match="no verified phone"):
            await session.execute(
                text("SELECT * FROM wallet_lock_lots(:r, now())"), {"r": resident.id}
            )
    async with app.state.sessionmaker() as session:
        with pytest.raises(PhoneNotVerified), wallet_lock_refusals():
            await session.execute(
                text("SELECT * FROM wallet_lock_lots(:r, now())"), {"r": resident.id}
            )


async def test_a_code_works_once(client: httpx.AsyncClient) -> None:
    resident = await register(client, verify=False)
    code = await last_code(client, resident.phone)
    assert (await verify(client, resident.phone, code)).status_code == 200
    again = await verify(client, resident.phone, code)
    assert (again.status_code, again.json()["type"]) == (422, CODE_INVALID)


async def test_five_wrong_codes_burn_the_code(client: httpx.AsyncClient) -> None:
    resident = await register(client, verify=False)
    code = await last_code(client, resident.phone)
    for _ in range(5):
        answer = await verify(client, resident.phone, wrong(code))
        assert (answer.status_code, answer.json()["type"]) == (422, CODE_INVALID)
    burnt = await verify(client, resident.phone, code)
    assert (burnt.status_code, burnt.json()["type"]) == (422, CODE_INVALID)
    # A new code (resend) works.
    resent = await client.post("/api/v1/residents/verify/resend", json={"phone": resident.phone})
    assert resent.status_code == 202
    fresh = await last_code(client, resident.phone)
    assert fresh != code or len(await texts_to(client, resident.phone)) == 2
    assert (await verify(client, resident.phone, fresh)).status_code == 200


async def test_four_wrong_tries_leave_the_code_usable(client: httpx.AsyncClient) -> None:
    resident = await register(client, verify=False)
    code = await last_code(client, resident.phone)
    for _ in range(4):
        assert (await verify(client, resident.phone, wrong(code))).status_code == 422
    assert (await verify(client, resident.phone, code)).status_code == 200


async def test_an_expired_code_is_refused(
    client: httpx.AsyncClient, clock: ManualClock, app_settings: Settings
) -> None:
    resident = await register(client, verify=False)
    code = await last_code(client, resident.phone)
    clock.advance(app_settings.phone_code_ttl_seconds + 1)
    expired = await verify(client, resident.phone, code)
    assert (expired.status_code, expired.json()["type"]) == (422, CODE_INVALID)


async def test_full_width_digits_are_accepted(client: httpx.AsyncClient) -> None:
    resident = await register(client, verify=False)
    code = await last_code(client, resident.phone)
    full_width = str.maketrans("0123456789-", "０１２３４５６７８９ー")
    answer = await verify(
        client, resident.phone.translate(full_width), f" {code.translate(full_width)} "
    )
    assert answer.status_code == 200, answer.text


async def test_codes_are_stored_only_as_keyed_hashes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    resident = await register(client, verify=False)
    code = await last_code(client, resident.phone)
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                text("SELECT * FROM phone_codes WHERE user_id = :id"), {"id": resident.id}
            )
        ).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert code not in stored
    assert len(rows[0].code_hash) == 64


async def test_unknown_verified_and_malformed_numbers_get_the_wrong_code_answer(
    client: httpx.AsyncClient,
) -> None:
    verified = await register(client)
    answers = [
        await verify(client, new_phone(), "123456"),
        await verify(client, verified.phone, "123456"),
        await verify(client, "0000000000", "123456"),
    ]
    assert {a.status_code for a in answers} == {422}
    assert len({a.text for a in answers}) == 1


async def test_resend_answers_202_whatever_the_number(client: httpx.AsyncClient) -> None:
    pending = await register(client, verify=False)
    verified = await register(client)
    nobody = new_phone()
    for phone in (pending.phone, verified.phone, nobody):
        answer = await client.post("/api/v1/residents/verify/resend", json={"phone": phone})
        assert (answer.status_code, answer.content) == (202, b"")
    assert len(await texts_to(client, pending.phone)) == 2  # registration + resend
    assert len(await texts_to(client, verified.phone)) == 1  # registration only
    assert await texts_to(client, nobody) == []


async def test_a_phone_gets_a_bounded_number_of_texts(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.sms_per_phone_per_hour = 3
    resident = await register(client, verify=False)
    first = await last_code(client, resident.phone)
    for _ in range(5):
        resent = await client.post(
            "/api/v1/residents/verify/resend", json={"phone": resident.phone}
        )
        assert resent.status_code == 202
    assert len(await texts_to(client, resident.phone)) == 3
    # The code of the last text that went out is the live one.
    latest = await last_code(client, resident.phone)
    assert latest == first or (await verify(client, resident.phone, first)).status_code == 422
    assert (await verify(client, resident.phone, latest)).status_code == 200


# -- enumeration ---------------------------------------------------------------------------

VARYING_HEADERS = {"date", "x-request-id"}


async def test_registering_a_taken_number_reads_exactly_like_a_new_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await register(client)
    fresh_phone = new_phone()
    taken = await client.post(
        "/api/v1/residents", json=registration(owner.phone.replace("-", ""), display_name="x")
    )
    fresh = await client.post("/api/v1/residents", json=registration(fresh_phone))
    assert taken.status_code == fresh.status_code == 201
    assert taken.json().keys() == fresh.json().keys() == {"id", "wallet_id", "verification"}
    assert taken.json()["verification"] == fresh.json()["verification"] == "pending"
    assert len(taken.json()["wallet_id"]) == len(fresh.json()["wallet_id"])
    # Ids come from the same sequence, so the decoy's is in line with real ones.
    assert abs(taken.json()["id"] - fresh.json()["id"]) == 1

    def shown(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in VARYING_HEADERS}

    assert shown(taken) == shown(fresh)

    # No account was made: the owner's password still signs in, the other one does not.
    async with app.state.sessionmaker() as session:
        users = (
            await session.execute(
                text("SELECT count(*) FROM users WHERE username = :p"),
                {"p": normalize_phone(owner.phone)},
            )
        ).scalar_one()
    assert users == 1
    signed_in = await client.post(
        "/api/v1/auth/token", json={"username": owner.phone, "password": owner.password}
    )
    assert signed_in.status_code == 200
    # The number's owner (only they read its texts) is told, with no code in the text.
    notice = (await texts_to(client, owner.phone))[0]
    assert "既に登録されています" in notice.text and "パスワードを忘れた方" in notice.text
    assert code_in(notice) is None
    # The new number got its code.
    assert code_in((await texts_to(client, fresh_phone))[0]) is not None


async def test_a_weak_password_is_refused_alike_for_taken_and_new_numbers(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    answers = [
        await client.post("/api/v1/residents", json=registration(phone, password="short"))
        for phone in (owner.phone, new_phone())
    ]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json() == answers[1].json()


async def test_unknown_unverified_and_existing_recipients_get_the_same_answer(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    alice = await register(client)
    pending = await register(client, verify=False)
    full = await register(client)
    await top_up(client, alice.wallet_id, 1_000)
    await top_up(client, full.wallet_id, app_settings.wallet_balance_cap - 10)
    answers = [
        await send(client, alice, new_phone(), 100),
        await send(client, alice, pending.phone, 100),
        await send(client, alice, full.phone, 100),
    ]
    assert {a.status_code for a in answers} == {422}
    assert len({a.text for a in answers}) == 1
    wallet = (await client.get("/api/v1/wallet", headers=pending.headers)).json()
    assert wallet["money"] == 0


# -- the sink -----------------------------------------------------------------------------


async def test_the_sink_is_for_operators_newest_first(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    resident = await register(client, verify=False)
    await client.post("/api/v1/residents/verify/resend", json={"phone": resident.phone})
    operator = await staff_token(client, app, Role.OPERATOR)
    listed = await client.get("/api/v1/ops/sms", params={"to": resident.phone}, headers=operator)
    assert listed.status_code == 200, listed.text
    messages = listed.json()
    assert [m["to"] for m in messages] == [normalize_phone(resident.phone)] * 2
    assert set(messages[0]) == {"to", "text", "sent_at"}
    assert messages[0]["sent_at"] >= messages[1]["sent_at"]
    assert code_in(messages[0]) == await last_code(client, resident.phone)
    for headers in (resident.headers, await staff_token(client, app, Role.OFFICER), {}):
        refused = await client.get(
            "/api/v1/ops/sms", params={"to": resident.phone}, headers=headers
        )
        assert refused.status_code in (401, 403), refused.text
