"""Registration, the wallet, the funding webhook, P2P transfers and input hygiene over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

import ledger
from ledger import credit, debit
from machipay.settings import Settings
from machipay.timeutil import utcnow
from tests.api.conftest import (
    WEBHOOK_SECRET,
    ResidentHandle,
    new_phone,
    register,
    signed_webhook,
    top_up,
)
from wallet_api import grant_points
from wallet_api.funding import sign

PROBLEM = "application/problem+json"


async def balance(client: httpx.AsyncClient, resident: ResidentHandle) -> int:
    response = await client.get("/api/v1/wallet", headers=resident.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["money"])


async def verify_green(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        report = await ledger.verify_ledger(session)
    assert report.ok, [str(f) for f in report.findings]


# -- registration and reference data ----------------------------------------------------


async def test_districts_are_the_wards(client: httpx.AsyncClient) -> None:
    districts = (await client.get("/api/v1/districts")).json()
    assert len(districts) == 28
    assert {"id": "kitazawa", "name": "北沢", "name_en": "Kitazawa"} in districts


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 415 555 0100"}, "phone"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"district": "atlantis"}, "district"),
        ({"birth_year": 1850}, "birth_year"),
        ({"birth_year": "1985"}, "birth_year"),
        ({"display_name": "   "}, "display_name"),
        ({"is_admin": True}, "is_admin"),
    ],
)
async def test_registration_is_validated(
    client: httpx.AsyncClient, change: dict[str, object], field: str
) -> None:
    body = {
        "phone": new_phone(),
        "password": "a-good-passphrase",
        "display_name": "佐藤",
        "birth_year": 1990,
        "district": "taishido",
    }
    response = await client.post("/api/v1/residents", json=body | change)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem.get("field") == field or any(
        field in e["pointer"] for e in problem.get("errors", [])
    )


# -- funding webhook ----------------------------------------------------------------------


async def test_top_up_credits_once_per_event(client: httpx.AsyncClient, app: FastAPI) -> None:
    resident = await register(client)
    event = uuid.uuid4().hex
    first = await top_up(client, resident.wallet_id, 5_000, event_id=event)
    replay = await top_up(client, resident.wallet_id, 5_000, event_id=event)
    assert (first.status_code, first.json()) == (200, {"status": "credited"})
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate"})
    assert await balance(client, resident) == 5_000
    history = (await client.get("/api/v1/wallet/transactions", headers=resident.headers)).json()[
        "items"
    ]
    assert [(i["kind"], i["amount"], i["money_change"]) for i in history] == [
        ("topup", 5_000, 5_000)
    ]
    assert history[0]["created_at"].endswith("+09:00")
    await verify_green(app)


async def test_twenty_concurrent_deliveries_credit_once(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    raw, headers = signed_webhook(
        {
            "event_id": uuid.uuid4().hex,
            "wallet_id": resident.wallet_id,
            "amount": 1_234,
            "source": "atm",
            "occurred_at": "2026-11-23T09:00:00+09:00",
        }
    )
    responses = await asyncio.gather(
        *(client.post("/api/v1/funding/webhook", content=raw, headers=headers) for _ in range(20))
    )
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["credited"] + ["duplicate"] * 19
    assert await balance(client, resident) == 1_234


@pytest.mark.parametrize(
    "tamper", ["stale", "future", "wrong-secret", "body-changed", "missing", "garbled"]
)
async def test_bad_signatures_are_401_and_credit_nothing(
    client: httpx.AsyncClient, tamper: str
) -> None:
    resident = await register(client)
    body = {
        "event_id": uuid.uuid4().hex,
        "wallet_id": resident.wallet_id,
        "amount": 900,
        "source": "bank",
        "occurred_at": "2026-11-23T09:00:00+09:00",
    }
    # Well outside the 5-minute window: at ±301 s a busy CI machine that takes a second
    # to get to the check would see a "future" stamp as just inside it.
    now = int(time.time())
    raw, headers = signed_webhook(
        body, timestamp={"stale": now - 3_600, "future": now + 3_600}.get(tamper)
    )
    if tamper == "wrong-secret":
        raw, headers = signed_webhook(body, secret="an-attacker-guess-0123456789abcdef")
    elif tamper == "body-changed":
        raw = raw.replace(b"900", b"9000")
    elif tamper == "missing":
        headers.pop("X-Machipay-Signature")
    elif tamper == "garbled":
        headers["X-Machipay-Signature"] = "v1=abc,t=notanumber"
    response = await client.post("/api/v1/funding/webhook", content=raw, headers=headers)
    assert response.status_code == 401, tamper
    assert response.headers["content-type"] == PROBLEM
    assert await balance(client, resident) == 0


async def test_unknown_wallet_is_404(client: httpx.AsyncClient) -> None:
    response = await top_up(client, "w_doesnotexist0000", 1_000)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/wallet-not-found")


async def test_balance_cap_refuses_the_top_up_whole(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    resident = await register(client)
    assert (
        await top_up(client, resident.wallet_id, app_settings.wallet_balance_cap - 100)
    ).status_code == 200
    over = await top_up(client, resident.wallet_id, 101)
    assert over.status_code == 422
    assert over.json()["type"].endswith("/balance-cap-exceeded")
    assert await balance(client, resident) == app_settings.wallet_balance_cap - 100
    assert (
        await top_up(client, resident.wallet_id, 100)
    ).status_code == 200  # exactly at the cap is fine


async def test_same_event_id_with_another_amount_is_refused(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    event = uuid.uuid4().hex
    await top_up(client, resident.wallet_id, 1_000, event_id=event)
    changed = await top_up(client, resident.wallet_id, 2_000, event_id=event)
    assert changed.status_code == 422
    assert await balance(client, resident) == 1_000


BAD_AMOUNTS = [
    '"100"',
    "100.0",
    "1e3",
    "true",
    "-1",
    "0",
    "1000001",
    "99999999999999999999999",
    "null",
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_webhook_amounts_must_be_json_integers_in_range(
    client: httpx.AsyncClient, amount: str
) -> None:
    resident = await register(client)
    raw = (
        f'{{"event_id":"{uuid.uuid4().hex}","wallet_id":"{resident.wallet_id}","amount":{amount},'
        f'"source":"bank","occurred_at":"2026-11-23T09:00:00+09:00"}}'
    ).encode()
    response = await client.post(
        "/api/v1/funding/webhook",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "X-Machipay-Signature": sign(WEBHOOK_SECRET, raw),
        },
    )
    assert response.status_code == 422, (amount, response.text)
    assert response.headers["content-type"] == PROBLEM
    assert any(e["pointer"] == "/body/amount" for e in response.json()["errors"])
    assert await balance(client, resident) == 0


# -- P2P transfers ------------------------------------------------------------------------


async def send(
    client: httpx.AsyncClient,
    sender: ResidentHandle,
    to: ResidentHandle | str,
    amount: object,
    key: str | None = None,
    **extra: object,
) -> httpx.Response:
    phone = to.phone if isinstance(to, ResidentHandle) else to
    return await client.post(
        "/api/v1/transfers",
        json={"to_phone": phone, "amount": amount, **extra},
        headers=sender.headers | {"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def test_transfer_moves_money_and_shows_in_both_histories(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice, bob = await register(client, name="Alice"), await register(client, name="Bob")
    await top_up(client, alice.wallet_id, 10_000)
    sent = await send(client, alice, bob, 3_000, message="ランチ代")
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["amount"] == 3_000
    assert body["to"]["display_name"] == "Bob"
    assert "****" in body["to"]["phone"]
    assert [await balance(client, alice), await balance(client, bob)] == [7_000, 3_000]
    alice_last = (await client.get("/api/v1/wallet/transactions", headers=alice.headers)).json()[
        "items"
    ][0]
    bob_last = (await client.get("/api/v1/wallet/transactions", headers=bob.headers)).json()[
        "items"
    ][0]
    assert (alice_last["kind"], alice_last["money_change"], alice_last["counterparty"]) == (
        "p2p_out",
        -3_000,
        "Bob",
    )
    assert (
        bob_last["kind"],
        bob_last["money_change"],
        bob_last["counterparty"],
        bob_last["message"],
    ) == ("p2p_in", 3_000, "Alice", "ランチ代")
    await verify_green(app)


async def test_transfer_refusals(client: httpx.AsyncClient, app_settings: Settings) -> None:
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 1_000)
    cases = [
        (await send(client, alice, alice, 100), 422, "validation-error"),
        (await send(client, alice, new_phone(), 100), 422, "recipient-cannot-receive"),
        (await send(client, alice, bob, 1_001), 402, "insufficient-funds"),
        (
            await send(client, alice, bob, app_settings.p2p_max_per_transfer + 1),
            422,
            "transfer-limit-exceeded",
        ),
    ]
    for response, status, kind in cases:
        assert response.status_code == status, response.text
        assert response.json()["type"].endswith("/" + kind)
    assert [await balance(client, alice), await balance(client, bob)] == [1_000, 0]


async def test_daily_and_monthly_caps(client: httpx.AsyncClient, app_settings: Settings) -> None:
    app_settings.p2p_daily_cap, app_settings.p2p_monthly_cap = 5_000, 8_000
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 20_000)
    assert (await send(client, alice, bob, 4_000)).status_code == 201
    over_day = await send(client, alice, bob, 1_001)
    assert (over_day.status_code, over_day.json()["type"].split("/")[-1]) == (
        422,
        "transfer-limit-exceeded",
    )
    assert (await send(client, alice, bob, 1_000)).status_code == 201
    app_settings.p2p_daily_cap = 100_000
    assert (await send(client, alice, bob, 3_000)).status_code == 201
    over_month = await send(client, alice, bob, 1)
    assert over_month.status_code == 422 and "month" in over_month.json()["detail"]
    wallet = (await client.get("/api/v1/wallet", headers=alice.headers)).json()
    assert wallet["limits"]["p2p_monthly_remaining"] == 0
    assert await balance(client, bob) == 8_000


async def test_recipient_balance_cap_is_respected(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 10_000)
    await top_up(client, bob.wallet_id, app_settings.wallet_balance_cap - 50)
    refused = await send(client, alice, bob, 51)
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/recipient-cannot-receive")
    assert [await balance(client, alice), await balance(client, bob)] == [
        10_000,
        app_settings.wallet_balance_cap - 50,
    ]


async def test_idempotency_key_required_replayed_and_scoped(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 5_000)
    missing = await client.post(
        "/api/v1/transfers", json={"to_phone": bob.phone, "amount": 100}, headers=alice.headers
    )
    assert missing.status_code == 400 and missing.headers["content-type"] == PROBLEM

    key = uuid.uuid4().hex
    first = await send(client, alice, bob, 700, key=key)
    replay = await send(client, alice, bob, 700, key=key)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    different = await send(client, alice, bob, 701, key=key)
    assert different.status_code == 422 and different.json()["type"].endswith(
        "/idempotency-key-reused"
    )
    # Keys are per caller: Bob may use the same key for his own transfer.
    await top_up(client, bob.wallet_id, 100)
    assert (await send(client, bob, alice, 50, key=key)).status_code == 201
    assert [await balance(client, alice), await balance(client, bob)] == [4_350, 750]
    await verify_green(app)


async def test_concurrent_duplicates_make_one_transfer(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 5_000)
    key = uuid.uuid4().hex
    responses = await asyncio.gather(*(send(client, alice, bob, 1_000, key=key) for _ in range(10)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert [await balance(client, alice), await balance(client, bob)] == [4_000, 1_000]


@pytest.mark.parametrize("amount", ["100", 100.0, True, -5, 0, 10**30, None])
async def test_transfer_amounts_must_be_integers_in_range(
    client: httpx.AsyncClient, amount: object
) -> None:
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 5_000)
    response = await send(client, alice, bob, amount)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert await balance(client, alice) == 5_000


async def test_malformed_json_and_unknown_fields_are_422(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    broken = await client.post(
        "/api/v1/transfers",
        content=b'{"to_phone": ',
        headers=alice.headers | {"Idempotency-Key": "k1", "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and broken.headers["content-type"] == PROBLEM
    missing = await client.post(
        "/api/v1/transfers",
        json={"to_phone": bob.phone},
        headers=alice.headers | {"Idempotency-Key": "k2"},
    )
    assert missing.status_code == 422
    assert any(e["pointer"] == "/body/amount" for e in missing.json()["errors"])
    extra = await send(client, alice, bob, 10, fee=0)
    assert extra.status_code == 422
    assert any(e["pointer"] == "/body/fee" for e in extra.json()["errors"])


# -- wallet, points and history --------------------------------------------------------------


async def test_points_lots_are_listed_oldest_expiry_first_and_never_transferable(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice, bob = await register(client), await register(client)
    campaign = int(uuid.uuid4().int % 10**9)
    async with app.state.sessionmaker() as session:
        budget = ledger.campaign_budget(campaign)
        await ledger.open_account(session, budget)
        await ledger.post_entry(
            session,
            idempotency_key=f"fund-{campaign}",
            kind="campaign_funding",
            legs=[debit(ledger.BANK_CITY, 10_000), credit(budget, 10_000)],
        )
        soon, later = utcnow() + timedelta(days=29), utcnow() + timedelta(days=90)
        for amount, expires in ((300, later), (200, soon)):
            await grant_points(
                session,
                resident_id=alice.id,
                amount=amount,
                campaign_id=campaign,
                expires_at=expires,
                idempotency_key=uuid.uuid4().hex,
                counterparty="30% 還元キャンペーン",
            )
        await session.commit()
    wallet = (await client.get("/api/v1/wallet", headers=alice.headers)).json()
    assert wallet["points"] == 500 and wallet["money"] == 0
    assert [lot["amount"] for lot in wallet["points_lots"]] == [200, 300]
    assert wallet["next_points_expiry"] == wallet["points_lots"][0]["expires_at"]
    assert wallet["points_expiring_soon"] == 200  # within 30 days
    # Points are not money: a resident with only points cannot send any.
    refused = await send(client, alice, bob, 100)
    assert refused.status_code == 402
    await verify_green(app)


async def test_history_pages_newest_first_and_only_your_own(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    for amount in range(1, 8):
        await top_up(client, alice.wallet_id, amount * 100)
    await top_up(client, bob.wallet_id, 999)
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get("/api/v1/wallet/transactions", params=params, headers=alice.headers)
        ).json()
        seen += [item["amount"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [700, 600, 500, 400, 300, 200, 100]
    # There is no way to name another resident's wallet: Bob sees only his own.
    bob_items = (await client.get("/api/v1/wallet/transactions", headers=bob.headers)).json()[
        "items"
    ]
    assert [i["amount"] for i in bob_items] == [999]
    bad = await client.get(
        "/api/v1/wallet/transactions", params={"cursor": "!!"}, headers=alice.headers
    )
    assert bad.status_code == 422


async def test_a_refusal_is_the_keys_answer_even_after_a_top_up(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    key = uuid.uuid4().hex
    refused = await send(client, alice, bob, 500, key=key)
    assert refused.status_code == 402
    await top_up(client, alice.wallet_id, 1_000)
    retried = await send(client, alice, bob, 500, key=key)
    assert (retried.status_code, retried.json()) == (402, refused.json())
    assert retried.headers["content-type"] == PROBLEM
    assert retried.headers["idempotent-replayed"] == "true"
    assert [await balance(client, alice), await balance(client, bob)] == [1_000, 0]
    # A new key is a new request.
    assert (await send(client, alice, bob, 500)).status_code == 201


@pytest.mark.parametrize("text", ["bad\x00name", "lone \ud800 surrogate"])
async def test_text_that_postgres_cannot_store_is_422(client: httpx.AsyncClient, text: str) -> None:
    # Found by the schema fuzzer: a NUL in a username reached PostgreSQL as a 500.
    raw = json.dumps({"username": text, "password": "whatever-123"}).encode()
    response = await client.post(
        "/api/v1/auth/token", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


def test_the_signature_window_is_five_minutes_either_way() -> None:
    from wallet_api.funding import BadSignature, sign, verify

    body, stamp = b'{"event_id":"x"}', 1_800_000_000
    header = sign("s" * 40, body, stamp)
    for offset in (-300, 0, 300):
        verify("s" * 40, header, body, tolerance_seconds=300, now=stamp + offset)
    for offset in (-301, 301):
        with pytest.raises(BadSignature):
            verify("s" * 40, header, body, tolerance_seconds=300, now=stamp + offset)


async def test_transfer_to_a_full_width_phone_number(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 1_000)
    typed = bob.phone.translate(str.maketrans("0123456789-", "０１２３４５６７８９ｰ"))
    sent = await send(client, alice, typed, 100)
    assert sent.status_code == 201, sent.text
    assert await balance(client, bob) == 100


# -- enumeration: the answers must not tell which numbers are registered -----------------


async def test_unknown_and_full_recipients_get_the_same_answer(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    alice, full = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 1_000)
    await top_up(client, full.wallet_id, app_settings.wallet_balance_cap - 10)
    to_full = await send(client, alice, full, 100)
    to_nobody = await send(client, alice, new_phone(), 100)
    assert to_full.status_code == to_nobody.status_code == 422
    assert to_full.json() == to_nobody.json()
    # Nothing about the recipient's balance leaks either.
    assert str(app_settings.wallet_balance_cap - 10 + 100) not in to_full.text.replace(",", "")


async def test_a_sender_without_funds_learns_nothing_about_the_recipient(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    to_bob = await send(client, alice, bob, 100)
    to_nobody = await send(client, alice, new_phone(), 100)
    assert to_bob.status_code == to_nobody.status_code == 402
    assert to_bob.json() == to_nobody.json()


async def test_failed_recipient_look_ups_are_rate_limited(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.p2p_unknown_recipients_per_day = 3
    alice, bob = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 1_000)
    assert [(await send(client, alice, new_phone(), 10)).status_code for _ in range(3)] == [422] * 3
    # From now on every transfer of Alice's waits, to a registered number or not, so the
    # answer still does not tell one from the other.
    to_bob, to_nobody = (
        await send(client, alice, bob, 10),
        await send(client, alice, new_phone(), 10),
    )
    assert to_bob.status_code == to_nobody.status_code == 429
    assert int(to_bob.headers["retry-after"]) > 0
    assert await balance(client, bob) == 0


async def test_registrations_per_address_are_limited(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.registrations_per_ip_per_hour = 2
    statuses = []
    for _ in range(3):
        created = await client.post(
            "/api/v1/residents",
            json={
                "phone": new_phone(),
                "password": "a-long-passphrase",
                "display_name": "x",
                "birth_year": 1990,
                "district": "taishido",
            },
        )
        statuses.append(created.status_code)
    assert statuses == [201, 201, 429]
