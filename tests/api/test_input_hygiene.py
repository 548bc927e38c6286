"""Input hygiene at the edge (issue 18, items 16-18): names that cannot impersonate,
integers that cannot overflow the database, and rate limits on every costly or
money-moving call."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from machipay.auth import Role
from machipay.auth.passwords import hash_password
from machipay.settings import Settings
from tests.api.conftest import register, top_up
from tests.api.shops import application, open_shop, staff_token, sticker_payload

HUGE = 10**25

# -- 16. names ------------------------------------------------------------------------------------

IMPERSONATING = {
    "right-to-left override": "山田\u202e花子",
    "zero-width space": "山田\u200b花子",
    "first-strong isolate": "山田\u2068花子\u2069",
    "byte order mark": "\ufeff山田",
    "control character": "山田\x07花子",
    "line separator": "山田\u2028花子",
    "private use": "山田\ue000",
}


@pytest.mark.parametrize("name", IMPERSONATING.values(), ids=IMPERSONATING.keys())
async def test_a_display_name_with_control_or_format_characters_is_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.post(
        "/api/v1/residents",
        json={
            "phone": "090-1111-2222",
            "password": f"pw-{uuid.uuid4().hex[:12]}",
            "display_name": name,
            "birth_year": 1985,
            "district": "kitazawa",
        },
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "not allowed" in response.text


async def test_names_are_nfkc_normalised_and_spaces_collapsed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    sender = await register(client)
    recipient = await register(client, name="  ＡＢＣ\u3000\u3000商店  ")
    assert (await top_up(client, sender.wallet_id, 1_000)).status_code == 200
    sent = await client.post(
        "/api/v1/transfers",
        json={"to_phone": recipient.phone, "amount": 100, "message": "ありがとう　ｺｰﾋｰ"},
        headers=sender.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["to"]["display_name"] == "ABC 商店"
    assert sent.json()["message"] == "ありがとう コーヒー"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "八百屋\u202e屋百八"),
        ("name_kana", "ヤオヤ\u200b"),
        ("address", "北沢2-1-1\u2066"),
    ],
)
async def test_a_shop_name_with_format_characters_is_refused(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    owner = f"shop-{uuid.uuid4().hex[:10]}"
    response = await client.post("/api/v1/merchants", json=application(owner, **{field: value}))
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_a_transfer_message_with_a_bidi_override_is_refused(
    client: httpx.AsyncClient,
) -> None:
    sender, recipient = await register(client), await register(client)
    assert (await top_up(client, sender.wallet_id, 1_000)).status_code == 200
    sent = await client.post(
        "/api/v1/transfers",
        json={"to_phone": recipient.phone, "amount": 100, "message": "返金\u202e000,01¥"},
        headers=sender.headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 422, sent.text


async def test_street_campaign_and_notice_names_refuse_format_characters(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    street = await client.post(
        "/api/v1/shopping-streets",
        json={"name": "北沢\u200b商店街", "name_en": "Kitazawa", "district_id": "kitazawa"},
        headers=officer,
    )
    assert street.status_code == 422, street.text
    notice = await client.post(
        "/api/v1/notices",
        json={"title": "お知らせ\u202e", "body": "本文"},
        headers=officer,
    )
    assert notice.status_code == 422, notice.text
    campaign = await client.post(
        "/api/v1/campaigns",
        json={
            "name": "還元\u2067祭",
            "starts_at": "2026-12-01T00:00:00+09:00",
            "ends_at": "2026-12-31T00:00:00+09:00",
            "resident_rate_bp": 3000,
            "budget": 1_000_000,
        },
        headers=officer,
    )
    assert campaign.status_code == 422, campaign.text


# -- 17. bounded integers ---------------------------------------------------------------------------


def _cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


HUGE_REQUESTS: list[tuple[Role, str, str, dict[str, Any] | None]] = [
    (Role.OFFICER, "GET", f"/api/v1/campaigns/{HUGE}", None),
    (Role.OFFICER, "GET", f"/api/v1/campaigns/{HUGE}/audit", None),
    (Role.OFFICER, "GET", f"/api/v1/campaigns?cursor={HUGE}", None),
    (Role.OFFICER, "POST", f"/api/v1/merchants/{HUGE}/approve", None),
    (Role.OFFICER, "POST", f"/api/v1/merchants/{HUGE}/suspend", {"reason": "確認のため"}),
    (Role.OPERATOR, "GET", f"/api/v1/payout-files/{HUGE}/zengin", None),
    (Role.OPERATOR, "GET", f"/api/v1/payouts?cursor={HUGE}", None),
    (Role.RESIDENT, "GET", f"/api/v1/wallet/transactions?cursor={_cursor(HUGE)}", None),
    (
        Role.ANALYST,
        "POST",
        "/api/v1/analytics/query",
        {"measures": ["payments"], "filters": {"shopping_street": [HUGE]}},
    ),
    (
        Role.ANALYST,
        "POST",
        "/api/v1/analytics/query",
        {"measures": ["payments"], "filters": {"campaign": [str(HUGE)]}},
    ),
    (
        Role.ANALYST,
        "POST",
        "/api/v1/analytics/query",
        {"measures": ["payments"], "filters": {"hour": [HUGE]}},
    ),
    (
        Role.OFFICER,
        "POST",
        "/api/v1/campaigns",
        {
            "name": "大きな数",
            "starts_at": "2026-12-01T00:00:00+09:00",
            "ends_at": "2026-12-31T00:00:00+09:00",
            "resident_rate_bp": 3000,
            "budget": 1_000_000,
            "eligibility": {"shopping_street_ids": [HUGE]},
        },
    ),
]


@pytest.mark.parametrize(
    ("role", "method", "url", "body"),
    HUGE_REQUESTS,
    ids=[f"{method} {url[:60]}" for _, method, url, _ in HUGE_REQUESTS],
)
async def test_a_huge_integer_is_a_client_error_never_a_server_error(
    client: httpx.AsyncClient,
    app: FastAPI,
    role: Role,
    method: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    if role is Role.RESIDENT:
        headers = (await register(client)).headers
    else:
        headers = await staff_token(client, app, role)
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code in (404, 422), (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_huge_shopping_street_in_an_application_is_refused(
    client: httpx.AsyncClient,
) -> None:
    owner = f"shop-{uuid.uuid4().hex[:10]}"
    response = await client.post(
        "/api/v1/merchants", json=application(owner, shopping_street_id=HUGE)
    )
    assert response.status_code == 422, response.text


# -- 18. rate limits --------------------------------------------------------------------------------


async def _pay(client: httpx.AsyncClient, headers: dict[str, str], payload: str) -> httpx.Response:
    return await client.post(
        "/api/v1/payments",
        json={"qr_payload": payload, "amount": 100},
        headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_the_61st_payment_in_a_minute_is_refused_for_that_resident_only(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    busy, other = await register(client), await register(client)
    for resident in (busy, other):
        assert (await top_up(client, resident.wallet_id, 10_000)).status_code == 200
    statuses = [(await _pay(client, busy.headers, payload)).status_code for _ in range(60)]
    assert statuses == [201] * 60
    refused = await _pay(client, busy.headers, payload)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert (await _pay(client, other.headers, payload)).status_code == 201


async def test_transfers_one_time_codes_and_refunds_share_the_money_move_limit(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    app_settings.money_moves_per_account_per_minute = 2
    sender, recipient = await register(client), await register(client)
    assert (await top_up(client, sender.wallet_id, 1_000)).status_code == 200

    async def send() -> int:
        response = await client.post(
            "/api/v1/transfers",
            json={"to_phone": recipient.phone, "amount": 10},
            headers=sender.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        return response.status_code

    assert [await send(), await send(), await send()] == [201, 201, 429]
    code = await client.post("/api/v1/wallet/one-time-code", headers=sender.headers)
    assert code.status_code == 429

    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    assert (await top_up(client, recipient.wallet_id, 1_000)).status_code == 200
    paid = [(await _pay(client, recipient.headers, payload)).json()["id"] for _ in range(2)]
    refunds = [
        (
            await client.post(
                f"/api/v1/merchant/payments/{payment_id}/refunds",
                json={"amount": 10},
                headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
            )
        ).status_code
        for payment_id in [*paid, paid[0]]
    ]
    assert refunds == [201, 201, 429]


async def test_payments_per_address_are_limited_across_residents(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    residents = [await register(client) for _ in range(3)]
    for resident in residents:
        assert (await top_up(client, resident.wallet_id, 1_000)).status_code == 200
    app_settings.requests_per_ip_per_minute = 2
    statuses = [(await _pay(client, r.headers, payload)).status_code for r in residents]
    assert statuses == [201, 201, 429]


async def test_merchant_applications_per_address_are_limited_before_hashing(
    client: httpx.AsyncClient, app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    def counting_hash(password: str) -> str:
        hashed.append(password)
        return hash_password(password)

    monkeypatch.setattr("identity.service.hash_password", counting_hash)
    # Applications get a tenth of the per-address allowance: 30 → 3 a minute.
    app_settings.requests_per_ip_per_minute = 30
    statuses = []
    for _ in range(4):
        owner = f"shop-{uuid.uuid4().hex[:10]}"
        statuses.append(
            (await client.post("/api/v1/merchants", json=application(owner))).status_code
        )
    assert statuses == [201, 201, 201, 429]
    assert len(hashed) == 3


async def test_analytics_queries_per_analyst_are_limited(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    app_settings.analytics_queries_per_minute = 2
    analyst = await staff_token(client, app, Role.ANALYST)
    colleague = await staff_token(client, app, Role.ANALYST)

    async def ask(headers: dict[str, str]) -> httpx.Response:
        return await client.post(
            "/api/v1/analytics/query",
            json={"measures": ["payments"], "dimensions": ["month"]},
            headers=headers,
        )

    statuses = [(await ask(analyst)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await ask(analyst)
    assert int(refused.headers["retry-after"]) > 0
    assert (await ask(colleague)).status_code == 200
