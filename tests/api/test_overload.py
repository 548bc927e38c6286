"""Graceful overload on the payment path (issue 20): a worker lets a bounded number of
money-moving requests in; the rest are refused at once with 503 + Retry-After, before any
work, and a retry with the same Idempotency-Key pays exactly once.

A "slow payment" is made by holding the payer's row lock from another connection: the
admitted payment waits on it inside the database, holding the worker's only slot."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from machipay.admission import AdmissionGate
from machipay.auth import Role
from machipay.settings import Settings
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import open_shop, staff_token, sticker_payload

PROBLEM = "application/problem+json"
PATIENCE_S = 60  # bounds each wait for a state below, so a broken build fails, not hangs


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    # One slot, no queue: the second payment is refused the moment it arrives. The lock
    # timeout is long because the test, not the database, decides when the lock goes.
    return app_settings.model_copy(
        update={"payments_in_flight": 1, "payment_queue_wait_ms": 0, "db_lock_timeout_ms": 600_000}
    )


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Scene:
    app: FastAPI
    client: httpx.AsyncClient
    gate: AdmissionGate
    resident: ResidentHandle
    payload: str
    dsn: str


@pytest.fixture
async def scene(app: FastAPI, client: httpx.AsyncClient, database_url: str) -> Scene:
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 10_000)).status_code == 200
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    return Scene(app, client, app.state.payment_gate, resident, payload, dsn)


@pytest.fixture
async def payer_lock(scene: Scene) -> AsyncIterator[asyncpg.Connection]:
    """Another connection holding the payer's row lock (FOR UPDATE) until it rolls back."""
    holder = await asyncpg.connect(scene.dsn)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("SELECT 1 FROM residents WHERE user_id = $1 FOR UPDATE", scene.resident.id)
    try:
        yield holder
    finally:
        if not holder.is_closed():
            await transaction.rollback()
            await holder.close()


async def release(holder: asyncpg.Connection) -> None:
    await holder.execute("ROLLBACK")
    await holder.close()


def pay(scene: Scene, key: str, amount: int) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(
        scene.client.post(
            "/api/v1/payments",
            json={"qr_payload": scene.payload, "amount": amount},
            headers=scene.resident.headers | {"Idempotency-Key": key},
        )
    )


async def until(condition_name: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll a state (not a duration): the test waits for it, bounded by PATIENCE_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_S
    while not await check():
        assert loop.time() < deadline, f"never reached: {condition_name}"
        await asyncio.sleep(0.01)


async def waits_on_the_lock(scene: Scene) -> None:
    async def blocked() -> bool:
        conn = await asyncpg.connect(scene.dsn)
        try:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        finally:
            await conn.close()
        return bool(waiting) and scene.gate.in_flight == 1

    await until("the first payment waits on the payer's lock", blocked)


async def ledger_entries_for(scene: Scene, key: str) -> int:
    conn = await asyncpg.connect(scene.dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE idempotency_key = $1",
            f"pay:{scene.resident.id}:{key}",
        )
        claimed: int = await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE scope = $1 AND key = $2",
            f"user:{scene.resident.id}",
            key,
        )
    finally:
        await conn.close()
    return count + claimed


async def admissions(client: httpx.AsyncClient, operator: dict[str, str]) -> dict[str, float]:
    text = (await client.get("/metrics", headers=operator)).text
    found = dict(
        re.findall(r'^machipay_payment_admissions_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    )
    return {outcome: float(found.get(outcome, 0)) for outcome in ("admitted", "refused")}


def assert_overloaded(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("/overloaded"), problem
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    # The jittered guidance is never earlier than the header says.
    assert problem["retry_after_ms"] >= retry_after * 1000


async def test_the_excess_is_refused_at_once_and_its_retry_pays_exactly_once(
    scene: Scene, payer_lock: asyncpg.Connection
) -> None:
    client, gate = scene.client, scene.gate
    operator = await staff_token(client, scene.app, Role.OPERATOR)
    clock = ManualMonotonic()
    gate.clock = clock
    before = await admissions(client, operator)
    assert (await client.get("/readyz")).status_code == 200

    first_key, second_key = uuid.uuid4().hex, uuid.uuid4().hex
    first = pay(scene, first_key, 1_000)
    await waits_on_the_lock(scene)

    # The worker's one slot is taken: the next payment is turned away before any work.
    refused = await pay(scene, second_key, 2_000)
    assert_overloaded(refused)
    assert await ledger_entries_for(scene, second_key) == 0  # no entry, no claimed key
    # The other money-moving routes share the gate; nothing of the request is read (an
    # empty body, no token: still 503, not 422 or 401).
    for path in (
        "/api/v1/transfers",
        "/api/v1/merchant/cpm-payments",
        f"/api/v1/merchant/payments/pay_{'0' * 20}/refunds",
    ):
        assert_overloaded(await client.post(path, json={}))
    # Reads are not held back.
    assert (await client.get("/api/v1/wallet", headers=scene.resident.headers)).status_code == 200

    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "saturated"
    assert ready.json()["checks"] == {"database": "ok", "cache": "ok"}
    assert ready.json()["payments"] == {
        "in_flight": 1,
        "limit": 1,
        "waiting": 0,
        "saturated": True,
    }
    during = await admissions(client, operator)
    assert during["refused"] - before["refused"] == 4
    assert during["admitted"] - before["admitted"] == 1

    await release(payer_lock)
    done = await first
    assert done.status_code == 201, done.text
    assert gate.in_flight == 0

    # The client honours Retry-After with the same key: now it pays, once.
    retried = await pay(scene, second_key, 2_000)
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] != done.json()["id"]
    again = await pay(scene, second_key, 2_000)
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == retried.json()["id"]
    assert await ledger_entries_for(scene, second_key) == 2  # one entry + one stored key
    wallet = (await client.get("/api/v1/wallet", headers=scene.resident.headers)).json()
    assert wallet["money"] == 10_000 - 1_000 - 2_000

    # Saturation is remembered for a second after the last refusal, then it is ready again.
    assert (await client.get("/readyz")).json()["status"] == "saturated"
    clock.now += 1.5
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    after = await admissions(client, operator)
    assert after["admitted"] - before["admitted"] == 3
    assert after["refused"] - before["refused"] == 4


async def test_a_short_wait_for_a_slot_is_served_in_turn(
    scene: Scene, payer_lock: asyncpg.Connection
) -> None:
    client, gate = scene.client, scene.gate
    operator = await staff_token(client, scene.app, Role.OPERATOR)
    gate.wait_s = PATIENCE_S  # a queue long enough that nobody is refused here
    before = await admissions(client, operator)

    first = pay(scene, uuid.uuid4().hex, 1_000)
    await waits_on_the_lock(scene)
    second = pay(scene, uuid.uuid4().hex, 2_000)

    async def queued() -> bool:
        return gate.waiting == 1

    await until("the second payment waits for the slot", queued)
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["payments"]["waiting"] == 1

    await release(payer_lock)
    answers = await asyncio.gather(first, second)
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert gate.in_flight == 0 and gate.waiting == 0
    wallet = (await client.get("/api/v1/wallet", headers=scene.resident.headers)).json()
    assert wallet["money"] == 10_000 - 1_000 - 2_000
    after = await admissions(client, operator)
    assert after["admitted"] - before["admitted"] == 2
    assert after["refused"] - before["refused"] == 0
