"""Sessions end: logout ends the refresh family, sign-out-everywhere ends them all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from identity import create_user
from machipay.auth import Role
from tests.api.conftest import register


async def _sign_in(client: httpx.AsyncClient, username: str, password: str) -> tuple[str, str]:
    token = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert token.status_code == 200, token.text
    return token.json()["access_token"], token.json()["refresh_token"]


def _bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


async def _refresh(client: httpx.AsyncClient, refresh: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})


async def test_logout_ends_the_refresh_family_and_its_access_tokens(
    client: httpx.AsyncClient,
) -> None:
    resident = await register(client)
    rotated = (await _refresh(client, resident.refresh)).json()
    other_access, other_refresh = await _sign_in(client, resident.phone, resident.password)

    assert (await client.post("/api/v1/auth/logout", headers=resident.headers)).status_code == 204

    # Both tokens of the family the access token belongs to stop working, including the
    # access token issued by the rotation (same session) and its refresh token.
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 401
    assert (
        await client.get("/api/v1/wallet", headers=_bearer(rotated["access_token"]))
    ).status_code == 401
    assert (await client.get("/api/v1/wallet", headers=resident.headers)).status_code == 401
    # Another session (another device) is not affected.
    assert (await client.get("/api/v1/wallet", headers=_bearer(other_access))).status_code == 200
    assert (await _refresh(client, other_refresh)).status_code == 200


async def test_a_reused_refresh_token_also_ends_the_familys_access_tokens(
    client: httpx.AsyncClient,
) -> None:
    resident = await register(client)
    rotated = (await _refresh(client, resident.refresh)).json()
    assert (await _refresh(client, resident.refresh)).status_code == 401  # reuse
    refused = await client.get("/api/v1/wallet", headers=_bearer(rotated["access_token"]))
    assert refused.status_code == 401


async def test_a_resident_signs_out_everywhere(client: httpx.AsyncClient) -> None:
    resident = await register(client)
    sessions = [(resident.access, resident.refresh)]
    sessions += [await _sign_in(client, resident.phone, resident.password) for _ in range(2)]
    rotated = (await _refresh(client, sessions[2][1])).json()
    sessions[2] = (rotated["access_token"], rotated["refresh_token"])
    bystander = await register(client)

    ended = await client.post("/api/v1/auth/logout-all", headers=_bearer(sessions[1][0]))
    assert ended.status_code == 204

    for access, refresh in sessions:
        assert (await client.get("/api/v1/wallet", headers=_bearer(access))).status_code == 401
        assert (await _refresh(client, refresh)).status_code == 401
    # Someone else's session is untouched; and the resident can sign in again.
    assert (await client.get("/api/v1/wallet", headers=bystander.headers)).status_code == 200
    fresh_access, _ = await _sign_in(client, resident.phone, resident.password)
    assert (await client.get("/api/v1/wallet", headers=_bearer(fresh_access))).status_code == 200


async def test_staff_sign_out_everywhere(client: httpx.AsyncClient, app: FastAPI) -> None:
    username, password = f"officer-{uuid.uuid4().hex[:8]}", "staff-passphrase-123"
    async with app.state.sessionmaker() as session:
        await create_user(session, username=username, password=password, role=Role.OFFICER)
        await session.commit()
    first = await _sign_in(client, username, password)
    second = await _sign_in(client, username, password)
    assert (await client.get("/api/v1/auth/me", headers=_bearer(first[0]))).status_code == 200

    assert (
        await client.post("/api/v1/auth/logout-all", headers=_bearer(second[0]))
    ).status_code == 204
    for access, refresh in (first, second):
        assert (await client.get("/api/v1/auth/me", headers=_bearer(access))).status_code == 401
        assert (await _refresh(client, refresh)).status_code == 401


# -- the refresh token as an HttpOnly cookie for the web clients --------------------------


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client on https, as browsers see http://127.0.0.1 too: Secure cookies are kept."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://test", headers={"X-Machipay-Client": "app"}
    ) as c:
        yield c


async def test_sign_in_sets_the_refresh_token_as_an_httponly_strict_cookie(
    browser: httpx.AsyncClient,
) -> None:
    resident = await register(browser)
    token = await browser.post(
        "/api/v1/auth/token", json={"username": resident.phone, "password": resident.password}
    )
    cookies = {c.split("=", 1)[0]: c for c in token.headers.get_list("set-cookie")}
    refresh = cookies["machipay-refresh-app"].lower()
    assert token.json()["refresh_token"] in cookies["machipay-refresh-app"]
    for attribute in ("httponly", "secure", "samesite=strict", "path=/api/v1/auth"):
        assert attribute in refresh, attribute
    csrf = cookies["machipay-csrf-app"].lower()
    assert "httponly" not in csrf and "secure" in csrf and "samesite=strict" in csrf
    assert "path=/;" in csrf or csrf.endswith("path=/")


async def test_cookie_refresh_needs_the_csrf_echo_and_keeps_the_token_from_scripts(
    browser: httpx.AsyncClient,
) -> None:
    resident = await register(browser)
    await _sign_in(browser, resident.phone, resident.password)
    first_cookie = browser.cookies["machipay-refresh-app"]

    forged = await browser.post("/api/v1/auth/refresh")
    assert forged.status_code == 403 and forged.json()["type"].endswith("/csrf-check-failed")
    wrong = await browser.post("/api/v1/auth/refresh", headers={"X-Machipay-CSRF": "0" * 64})
    assert wrong.status_code == 403

    csrf = browser.cookies["machipay-csrf-app"]
    renewed = await browser.post("/api/v1/auth/refresh", headers={"X-Machipay-CSRF": csrf})
    assert renewed.status_code == 200, renewed.text
    assert set(renewed.json()) == {"access_token", "token_type", "expires_in"}
    assert browser.cookies["machipay-refresh-app"] != first_cookie
    wallet = await browser.get("/api/v1/wallet", headers=_bearer(renewed.json()["access_token"]))
    assert wallet.status_code == 200
    # The cookie rotated like a body token: the old one used again ends the session.
    assert (await _refresh(browser, first_cookie)).status_code == 401
    again = await browser.post(
        "/api/v1/auth/refresh", headers={"X-Machipay-CSRF": browser.cookies["machipay-csrf-app"]}
    )
    assert again.status_code == 401


async def test_each_web_client_keeps_its_own_session_cookie(browser: httpx.AsyncClient) -> None:
    resident = await register(browser)
    await _sign_in(browser, resident.phone, resident.password)
    assert "machipay-refresh-app" in browser.cookies
    assert "machipay-refresh-merchant" not in browser.cookies
    without_cookie = await browser.post(
        "/api/v1/auth/refresh", headers={"X-Machipay-Client": "merchant", "X-Machipay-CSRF": "x"}
    )
    assert without_cookie.status_code == 401


async def test_logout_clears_the_session_cookies(browser: httpx.AsyncClient) -> None:
    resident = await register(browser)
    access, _ = await _sign_in(browser, resident.phone, resident.password)
    assert "machipay-refresh-app" in browser.cookies
    out = await browser.post("/api/v1/auth/logout", headers=_bearer(access))
    assert out.status_code == 204
    assert "machipay-refresh-app" not in browser.cookies
    assert "machipay-csrf-app" not in browser.cookies
