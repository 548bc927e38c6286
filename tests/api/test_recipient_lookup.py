"""受取人名義の確認: the masked name before a transfer, and what bounds it as an oracle."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from machipay.settings import Settings
from tests.api.conftest import ResidentHandle, new_phone, register, top_up
from wallet_api.models import Resident
from wallet_api.recipients import mask_name

PROBLEM = "application/problem+json"


async def look_up(client: httpx.AsyncClient, sender: ResidentHandle, phone: str) -> httpx.Response:
    return await client.post(
        "/api/v1/transfers/recipient", json={"to_phone": phone}, headers=sender.headers
    )


def test_a_name_is_masked_word_by_word_with_a_fixed_run_of_stars() -> None:
    assert mask_name("ヤマダ タロウ") == "ヤ*** タ***"
    assert mask_name("山田　太郎") == "山*** 太***"  # an ideographic space splits words too
    assert mask_name("佐藤") == mask_name("佐藤由美子加奈") == "佐***"


async def test_the_sender_sees_the_recipients_masked_name_only(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client, name="ヤマダ タロウ")
    found = await look_up(client, alice, bob.phone)
    assert found.status_code == 200, found.text
    assert found.json() == {"name": "ヤ*** タ***"}
    # Full-width digits from an IME find the same person.
    wide = bob.phone.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    assert (await look_up(client, alice, wide)).json() == {"name": "ヤ*** タ***"}


async def test_unknown_unverified_and_frozen_numbers_are_not_found_alike(
    client: httpx.AsyncClient, app: object
) -> None:
    alice = await register(client)
    pending = await register(client, verify=False)
    frozen = await register(client)
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        await session.execute(
            update(Resident).where(Resident.user_id == frozen.id).values(status="frozen")
        )
        await session.commit()
    answers = [await look_up(client, alice, p) for p in (new_phone(), pending.phone, frozen.phone)]
    assert {a.status_code for a in answers} == {404}
    assert answers[0].headers["content-type"] == PROBLEM
    assert answers[0].json()["type"].endswith("/recipient-not-found")
    assert answers[0].json() == answers[1].json() == answers[2].json()


async def test_the_transfer_itself_still_answers_unknown_and_full_alike(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    alice, full = await register(client), await register(client)
    await top_up(client, alice.wallet_id, 1_000)
    await top_up(client, full.wallet_id, app_settings.wallet_balance_cap - 10)
    answers = [
        await client.post(
            "/api/v1/transfers",
            json={"to_phone": phone, "amount": 100},
            headers=alice.headers | {"Idempotency-Key": f"k-{i}"},
        )
        for i, phone in enumerate((full.phone, new_phone()))
    ]
    assert answers[0].status_code == answers[1].status_code == 422
    assert answers[0].json() == answers[1].json()


async def test_only_a_verified_resident_may_look_up_and_not_themselves(
    client: httpx.AsyncClient,
) -> None:
    pending, alice, bob = (
        await register(client, verify=False),
        await register(client),
        await register(client),
    )
    refused = await look_up(client, pending, bob.phone)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/phone-not-verified")
    assert (await look_up(client, alice, alice.phone)).status_code == 422
    assert (await look_up(client, alice, "0120-abc-defg")).status_code == 422
    unsigned = await client.post("/api/v1/transfers/recipient", json={"to_phone": bob.phone})
    assert unsigned.status_code == 401


async def test_look_ups_are_limited_per_account_found_or_not(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.p2p_recipient_lookups_per_day = 3
    alice, bob, carol = await register(client), await register(client), await register(client)
    statuses = [
        (await look_up(client, alice, p)).status_code for p in (bob.phone, new_phone(), bob.phone)
    ]
    assert statuses == [200, 404, 200]
    # The fourth is refused whether the number is registered or not: the refusal tells nothing.
    to_bob, to_nobody = (
        await look_up(client, alice, bob.phone),
        await look_up(client, alice, new_phone()),
    )
    assert to_bob.status_code == to_nobody.status_code == 429
    assert int(to_bob.headers["retry-after"]) > 60 * 60  # a day's window, not a minute's
    # Another resident has an allowance of their own.
    assert (await look_up(client, carol, bob.phone)).status_code == 200


async def test_look_ups_are_limited_per_address_across_accounts(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    app_settings.p2p_recipient_lookups_per_day = 1  # ten per address
    target = await register(client)
    senders = [await register(client) for _ in range(11)]
    statuses = [(await look_up(client, s, target.phone)).status_code for s in senders]
    assert statuses == [200] * 10 + [429]
