"""Lockout by account *and* address with growing back-off: nobody can lock another out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from identity import create_user
from machipay.auth import Role
from machipay.settings import Settings
from tests.api.conftest import register
from tests.conftest import ManualClock

AddressClient = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def from_address(app: FastAPI) -> AddressClient:
    @asynccontextmanager
    async def connect(ip: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(ip, 40_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c

    return connect


async def _sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


async def _staff(app: FastAPI, role: Role = Role.APPROVER) -> tuple[str, str]:
    username, password = f"{role.value}-{uuid.uuid4().hex[:8]}", "staff-passphrase-123"
    async with app.state.sessionmaker() as session:
        await create_user(session, username=username, password=password, role=role)
        await session.commit()
    return username, password


async def test_an_attacker_elsewhere_cannot_lock_the_user_out(
    app: FastAPI, app_settings: Settings, from_address: AddressClient
) -> None:
    app_settings.login_attempts_per_account_per_minute = 3
    username, password = await _staff(app)
    async with from_address("203.0.113.66") as attacker:
        statuses = [
            (await _sign_in(attacker, username, f"guess-{n}-wrong")).status_code for n in range(40)
        ]
        assert statuses[:3] == [401, 401, 401] and set(statuses[3:]) == {429}
        # The attacker's address is locked even with the right password.
        assert (await _sign_in(attacker, username, password)).status_code == 429
    async with from_address("198.51.100.7") as staff_member:
        assert (await _sign_in(staff_member, username, password)).status_code == 200


async def test_a_resident_is_not_locked_out_by_failures_from_another_address(
    client: httpx.AsyncClient, app_settings: Settings, from_address: AddressClient
) -> None:
    app_settings.login_attempts_per_account_per_minute = 2
    resident = await register(client)
    async with from_address("203.0.113.9") as attacker:
        for n in range(10):
            await _sign_in(attacker, resident.phone, f"guess-{n}-wrong")
    async with from_address("198.51.100.20") as phone:
        # A typo of her own first: still below her own limit, then the right password.
        assert (await _sign_in(phone, resident.phone, "typo-typo-typo")).status_code == 401
        assert (await _sign_in(phone, resident.phone, resident.password)).status_code == 200


async def test_back_off_grows_with_each_failure_after_the_limit(
    app: FastAPI, app_settings: Settings, from_address: AddressClient, clock: ManualClock
) -> None:
    app_settings.login_attempts_per_account_per_minute = 2
    app_settings.login_backoff_base_seconds = 60
    username, _ = await _staff(app, Role.OFFICER)
    async with from_address("203.0.113.10") as guesser:
        assert [(await _sign_in(guesser, username, "nope-nope-1")).status_code for _ in "ab"] == [
            401,
            401,
        ]
        waits = []
        for _ in range(2):
            locked = await _sign_in(guesser, username, "nope-nope-2")
            assert locked.status_code == 429
            waits.append(int(locked.headers["retry-after"]))
            clock.advance(waits[-1] - 1)
            assert (await _sign_in(guesser, username, "nope-nope-2")).status_code == 429
            clock.advance(1)
            # The lock has passed: the next guess is checked (and fails, locking longer).
            assert (await _sign_in(guesser, username, "nope-nope-3")).status_code == 401
        last = await _sign_in(guesser, username, "nope-nope-4")
        waits.append(int(last.headers["retry-after"]))
    assert waits == [60, 120, 240]


async def test_an_account_guessed_at_from_many_addresses_slows_every_guessing_address(
    app: FastAPI, app_settings: Settings, from_address: AddressClient
) -> None:
    app_settings.login_attempts_per_account_per_minute = 5
    app_settings.login_failures_per_account_per_hour = 4
    username, password = await _staff(app)
    for n in range(4):
        async with from_address(f"203.0.113.{100 + n}") as bot:
            assert (await _sign_in(bot, username, "wrong-wrong-1")).status_code == 401
    # The account has now failed more than its hourly safety limit: an address that has
    # failed once waits, even though it is below its own limit of five ...
    async with from_address("203.0.113.200") as bot:
        assert (await _sign_in(bot, username, "wrong-wrong-2")).status_code == 401
        assert (await _sign_in(bot, username, "wrong-wrong-3")).status_code == 429
    # ... but an address that has not failed signs in with the right password.
    async with from_address("198.51.100.1") as owner:
        assert (await _sign_in(owner, username, password)).status_code == 200
