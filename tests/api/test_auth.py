"""Sign-in, refresh rotation with reuse detection, logout, tampered tokens, rate limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from machipay.auth.tokens import AUDIENCE, ISSUER
from machipay.settings import Settings
from tests.api.conftest import new_phone, register


async def test_register_then_sign_in(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    wallet = await client.get("/api/v1/wallet", headers=resident.headers)
    assert wallet.status_code == 200
    assert wallet.json()["wallet_id"] == resident.wallet_id


async def test_phone_is_normalised_so_any_notation_signs_in(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    digits = resident.phone.replace("-", "")
    for username in (digits, "+81" + digits[1:], "+81 " + resident.phone[1:]):
        response = await client.post(
            "/api/v1/auth/token", json={"username": username, "password": resident.password}
        )
        assert response.status_code == 200, (username, response.text)


async def test_bad_credentials_are_401_problem(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    wrong = await client.post(
        "/api/v1/auth/token", json={"username": resident.phone, "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/token", json={"username": new_phone(), "password": "whatever-123"}
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-credentials")


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": resident.refresh})
    assert first.status_code == 200
    second_refresh = first.json()["refresh_token"]
    assert second_refresh != resident.refresh

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": resident.refresh})
    assert reused.status_code == 401
    assert reused.json()["type"].endswith("/refresh-token-reused")
    # The thief's (or the victim's) newer token is dead too: the whole family was revoked.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": second_refresh})
    assert after.status_code == 401
    # Signing in again starts a new family that works.
    again = await client.post(
        "/api/v1/auth/token", json={"username": resident.phone, "password": resident.password}
    )
    assert (
        await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": again.json()["refresh_token"]}
        )
    ).status_code == 200


async def test_logout_stops_the_access_token(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    assert (await client.post("/api/v1/auth/logout", headers=resident.headers)).status_code == 204
    refused = await client.get("/api/v1/wallet", headers=resident.headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"


def _forge(claims: dict[str, object], key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict[str, object]) -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


async def test_tampered_tokens_are_refused(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    resident = await register(client)
    genuine = jwt.decode(
        resident.access, app_settings.secret_key, algorithms=["HS256"], audience=AUDIENCE
    )
    now = int(time.time())
    as_operator = {**genuine, "role": "operator"}
    header, _payload, signature = resident.access.split(".")
    swapped_payload = (
        base64.urlsafe_b64encode(json.dumps(as_operator).encode()).decode().rstrip("=")
    )
    candidates = {
        "changed role, old signature": f"{header}.{swapped_payload}.{signature}",
        "alg none": _unsigned(as_operator),
        "wrong key": _forge(as_operator, "not-the-server-key-0123456789abcdef"),
        "expired": _forge({**genuine, "exp": now - 10, "iat": now - 100}, app_settings.secret_key),
        "other audience": _forge({**genuine, "aud": "someone-else"}, app_settings.secret_key),
        "other issuer": _forge({**genuine, "iss": "evil"}, app_settings.secret_key),
        "garbage": "not.a.jwt",
    }
    for label, token in candidates.items():
        response = await client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, label
    assert (await client.get("/api/v1/wallet")).status_code == 401
    assert jwt.decode(
        resident.access,
        app_settings.secret_key,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
    )


async def test_staff_cannot_use_the_resident_wallet(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    officer = _forge(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "999999",
            "role": "officer",
            "jti": "x" * 32,
            "sid": "y" * 32,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        app_settings.secret_key,
    )
    response = await client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {officer}"})
    assert response.status_code == 403


@pytest.fixture
def strict_limits(app_settings: Settings) -> Settings:
    app_settings.login_attempts_per_account_per_minute = 3
    return app_settings


async def test_failed_logins_per_account_are_rate_limited(
    strict_limits: Settings, client: httpx.AsyncClient
) -> None:
    resident = await register(client)
    statuses = [
        (
            await client.post(
                "/api/v1/auth/token",
                json={"username": resident.phone, "password": "wrong-password-1"},
            )
        ).status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    # Even the right password waits out the window now: the account is being guessed at.
    locked = await client.post(
        "/api/v1/auth/token", json={"username": resident.phone, "password": resident.password}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


async def test_requests_per_ip_are_rate_limited(
    app_settings: Settings, client: httpx.AsyncClient
) -> None:
    app_settings.requests_per_ip_per_minute = 4
    statuses = [
        (
            await client.post(
                "/api/v1/auth/token", json={"username": new_phone(), "password": "whatever-123"}
            )
        ).status_code
        for _ in range(6)
    ]
    assert statuses.count(429) >= 2
    assert statuses[0] == 401


_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９ー")


@pytest.mark.parametrize(
    "notation",
    [
        lambda p: p.translate(_FULL_WIDTH),  # 0８0ー1２３４ー5６７８ as the IME typed it
        lambda p: p.replace("-", ""),
        lambda p: p,
        lambda p: p.replace("-", "ｰ"),
        lambda p: "+81 " + p[1:].replace("-", " "),
    ],
    ids=["as-typed", "ascii-digits", "ascii-hyphens", "half-width-mark", "e164-spaced"],
)
async def test_full_width_phone_from_an_ime_signs_in_in_any_notation(
    client: httpx.AsyncClient, notation: Callable[[str], str]
) -> None:
    phone, password = new_phone(), "pw-full-width-1"
    created = await client.post(
        "/api/v1/residents",
        json={
            "phone": phone.translate(_FULL_WIDTH),
            "password": password,
            "display_name": "全角 入力",
            "birth_year": 1980,
            "district": "kitazawa",
        },
    )
    assert created.status_code == 201, created.text
    token = await client.post(
        "/api/v1/auth/token", json={"username": notation(phone), "password": password}
    )
    assert token.status_code == 200, (notation(phone), token.text)
