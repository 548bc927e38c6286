"""Where residents send money from (GET /api/v1/wallet/funding) and the funding webhook by
each network's reference: the wallet id, a virtual account, a konbini number."""

from __future__ import annotations

import uuid

import httpx

from tests.api.conftest import ResidentHandle, register, signed_webhook

PROBLEM = "application/problem+json"


def event(amount: int, event_id: str | None = None, **reference: str) -> dict[str, object]:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        **reference,
        "amount": amount,
        "source": "bank",
        "occurred_at": "2026-11-23T09:00:00+09:00",
    }


async def webhook(client: httpx.AsyncClient, body: dict[str, object]) -> httpx.Response:
    raw, headers = signed_webhook(body)
    return await client.post("/api/v1/funding/webhook", content=raw, headers=headers)


async def money(client: httpx.AsyncClient, resident: ResidentHandle) -> int:
    wallet = await client.get("/api/v1/wallet", headers=resident.headers)
    assert wallet.status_code == 200, wallet.text
    return int(wallet.json()["money"])


async def funding(client: httpx.AsyncClient, resident: ResidentHandle) -> dict[str, object]:
    answer = await client.get("/api/v1/wallet/funding", headers=resident.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_each_wallet_has_its_own_stable_references(client: httpx.AsyncClient) -> None:
    first = await register(client, district="kitazawa")
    second = await register(client, district="futako_tamagawa")
    one, again, other = (
        await funding(client, first),
        await funding(client, first),
        await funding(client, second),
    )
    assert one == again  # allocated once, kept
    bank = one["bank"]
    assert isinstance(bank, dict)
    assert set(bank) == {
        "bank_code",
        "bank_name",
        "branch_code",
        "branch_name",
        "account_type",
        "account_number",
        "account_name_kana",
    }
    assert len(bank["account_number"]) == 7 and bank["account_number"].isdigit()
    assert (bank["bank_code"], bank["branch_code"]) == ("0001", "963")  # from settings
    konbini = one["konbini_number"]
    assert isinstance(konbini, str) and len(konbini) == 12 and konbini.isdigit()
    other_bank = other["bank"]
    assert isinstance(other_bank, dict)
    assert other_bank["account_number"] != bank["account_number"]
    assert other["konbini_number"] != konbini
    # Not derived from the wallet id: neither number appears in it or it in them.
    assert bank["account_number"] not in first.wallet_id
    assert konbini not in first.wallet_id
    # The counter of the resident's own district.
    assert one["counter"] == {
        "district_id": "kitazawa",
        "district_name": "北沢",
        "name": "北沢総合支所",
        "name_en": "Kitazawa General Branch Office",
        "address": "東京都世田谷区北沢2-8-18",
        "hours": one["counter"]["hours"],  # type: ignore[index]
        "hours_en": one["counter"]["hours_en"],  # type: ignore[index]
    }
    assert other["counter"]["name"] == "二子玉川まちづくりセンター"  # type: ignore[index]
    assert other["counter"]["address"] == "東京都世田谷区玉川4-4-5"  # type: ignore[index]
    assert one["room"] == one["balance_cap"] == 300_000
    # Only residents have one.
    assert (await client.get("/api/v1/wallet/funding")).status_code == 401


async def test_a_webhook_by_virtual_account_or_konbini_number_credits_that_wallet_once(
    client: httpx.AsyncClient,
) -> None:
    resident = await register(client)
    bystander = await register(client)
    refs = await funding(client, resident)
    await funding(client, bystander)
    bank = refs["bank"]
    assert isinstance(bank, dict)
    by_bank = event(3_000, virtual_account=bank["account_number"])
    first = await webhook(client, by_bank)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "credited"}
    replay = await webhook(client, by_bank)
    assert replay.json() == {"status": "duplicate"}
    # A konbini number as a till types it: full-width digits with spaces.
    konbini = str(refs["konbini_number"])
    typed = " ".join(konbini[i : i + 4] for i in range(0, 12, 4)).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    by_konbini = event(1_500, konbini_number=typed)
    assert (await webhook(client, by_konbini)).json() == {"status": "credited"}
    assert (await webhook(client, by_konbini)).json() == {"status": "duplicate"}
    assert await money(client, resident) == 4_500
    assert await money(client, bystander) == 0
    # The history says where it came from.
    history = await client.get("/api/v1/wallet/transactions", headers=resident.headers)
    assert [(t["kind"], t["amount"]) for t in history.json()["items"]] == [
        ("topup", 1_500),
        ("topup", 3_000),
    ]


async def test_an_unknown_reference_credits_nothing_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    resident = await register(client)
    refs = await funding(client, resident)
    bank = refs["bank"]
    assert isinstance(bank, dict)
    unused = f"{(int(bank['account_number']) + 1) % 10**7:07d}"
    konbini = str(refs["konbini_number"])
    wrong_check_digit = konbini[:-1] + str((int(konbini[-1]) + 1) % 10)
    for reference in (
        {"virtual_account": unused},
        {"konbini_number": wrong_check_digit},
        {"konbini_number": "000000000000"},  # well formed, nobody's
    ):
        refused = await webhook(client, event(2_000, **reference))
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert problem["type"].endswith("/funding-reference-unknown")
        assert problem["field"] == next(iter(reference))
    assert await money(client, resident) == 0


async def test_a_webhook_names_exactly_one_reference(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    refs = await funding(client, resident)
    bank = refs["bank"]
    assert isinstance(bank, dict)
    for body in (
        event(1_000, wallet_id=resident.wallet_id, virtual_account=bank["account_number"]),
        event(
            1_000,
            virtual_account=bank["account_number"],
            konbini_number=str(refs["konbini_number"]),
        ),
        event(1_000),
        event(1_000, virtual_account="12345"),
    ):
        refused = await webhook(client, body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == PROBLEM
    # A bad signature is still refused before anything else.
    raw, headers = signed_webhook(event(1_000, wallet_id=resident.wallet_id), secret="x" * 40)
    refused = await client.post("/api/v1/funding/webhook", content=raw, headers=headers)
    assert refused.status_code == 401
    assert await money(client, resident) == 0
