"""A QR payment's round trips to PostgreSQL (issue 20): the Idempotency-Key's claim, the shop
and the payer's lock in the first call (``payment_open``), the answer stored by the last
(``payment_record``); with group commit (on by default) the same in their batch forms
(``payment_open_batch``, ``payment_record_batch``) on the batch's connection. Counted per
connection with asyncpg's query logger, so a statement that creeps back onto the payment
path fails here. Every test runs with group commit on and off."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, make_url, text

from machipay.settings import Settings
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, open_shop, sticker_payload
from tests.api.test_payments import money_points, pay, payable, verify_green

_CALLED = re.compile(r"\b(?:FROM|SELECT)\s+([a-z_]+)\(", re.IGNORECASE)


def _name(query: str) -> str:
    """A statement as the test names it: BEGIN/COMMIT/ROLLBACK, or the function it calls."""
    head = query.strip().split()[0].upper().rstrip(";")
    if head in {"BEGIN", "COMMIT", "ROLLBACK"}:
        return head
    called = _CALLED.search(query)
    return called.group(1) if called else query.strip()[:60]


@asynccontextmanager
async def statements_by_connection(app: FastAPI) -> AsyncIterator[dict[int, list[str]]]:
    """Every statement the app's connections send meanwhile, per connection: SQLAlchemy's
    (which asyncpg runs as prepared statements, unlogged) by its cursor event, and the rest
    (``HotStatement``'s, BEGIN, COMMIT) by asyncpg's query logger."""
    seen: dict[int, list[str]] = {}
    engine = app.state.engine.sync_engine
    logged: dict[int, Any] = {}

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        key = id(driver)
        if key in logged:
            return

        def log(query: Any) -> None:
            seen.setdefault(key, []).append(_name(query.query))

        logged[key] = (driver, log)
        driver.add_query_logger(log)

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        key = id(conn.connection.driver_connection)
        seen.setdefault(key, []).append(_name(statement))

    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
        # Let asyncpg's deferred logger calls land before the window closes.
        for _ in range(3):
            await asyncio.sleep(0)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "checkout", on_checkout)
        for driver, log in logged.values():
            driver.remove_query_logger(log)


@pytest.fixture(params=[True, False], ids=["group-commit", "alone"])
def app_settings(app_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return app_settings.model_copy(update={"payment_group_commit": request.param})


def the_payment(seen: dict[int, list[str]]) -> Counter[str]:
    """The statements sent on the connection that opened the payment (one request per
    window). Counted, not ordered: asyncpg's logger reports a statement after it ends, by
    ``call_soon``, while SQLAlchemy's event fires as one starts."""
    (statements,) = [s for s in seen.values() if "payment_open" in s or "payment_open_batch" in s]
    return Counter(statements)


def calls(*names: str) -> Counter[str]:
    return Counter(names)


def sticker_calls(app: FastAPI, *names: str) -> Counter[str]:
    """A sticker payment's statements: in their batch forms when the app group-commits."""
    if app.state.payment_batches is None:
        return calls(*names)
    batched = {"payment_open": "payment_open_batch", "payment_record": "payment_record_batch"}
    return calls(*(batched.get(name, name) for name in names))


async def _scene(client: httpx.AsyncClient, app: FastAPI) -> tuple[ShopHandle, ResidentHandle, str]:
    shop = await open_shop(client, app)
    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 20_000)).status_code == 200
    payload = await sticker_payload(client, shop)
    # The worker's memory of approved campaigns is filled by its first payment (then re-read
    # when a campaign changes or after refresh_seconds), so the counts below are a warm path.
    assert (await pay(client, resident, payload, 10_000)).status_code == 201
    return shop, resident, payload


async def test_a_payment_is_two_calls_and_its_replay_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop, resident, payload = await _scene(client, app)
    key = uuid.uuid4().hex
    async with statements_by_connection(app) as seen:
        paid = await pay(client, resident, payload, 1_000, key=key)
    assert paid.status_code == 201, paid.text
    assert the_payment(seen) == sticker_calls(
        app, "BEGIN", "payment_open", "payment_record", "COMMIT"
    )

    async with statements_by_connection(app) as seen:
        again = await pay(client, resident, payload, 1_000, key=key)
    assert the_payment(seen) == sticker_calls(app, "BEGIN", "payment_open", "COMMIT")
    # The answer stored by payment_record is the answer sent, byte for byte.
    assert (again.status_code, again.content) == (201, paid.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in paid.headers
    assert await money_points(client, resident) == (9_000, 0)
    assert await payable(app, shop) == 11_000
    await verify_green(app)


async def test_a_dynamic_code_adds_only_its_charge(client: httpx.AsyncClient, app: FastAPI) -> None:
    shop, resident, _ = await _scene(client, app)
    charge = await client.post(
        "/api/v1/merchant/charges", json={"amount": 700}, headers=shop.headers
    )
    assert charge.status_code == 201, charge.text
    async with statements_by_connection(app) as seen:
        paid = await pay(client, resident, charge.json()["qr_payload"])
    assert paid.status_code == 201, paid.text
    statements = the_payment(seen)
    # The charge's lock (after the payer's) and its "paid" mark are all a dynamic code adds.
    charge_reads = [name for name in statements if name.startswith("SELECT merchant_charges")]
    charge_marks = [name for name in statements if name.startswith("UPDATE merchant_charges")]
    assert len(charge_reads) == len(charge_marks) == 1, statements
    assert statements - calls(*charge_reads, *charge_marks) == calls(
        "BEGIN", "payment_open", "payment_record", "COMMIT"
    )
    assert await money_points(client, resident) == (9_300, 0)


async def test_the_same_key_for_another_payment_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop, resident, payload = await _scene(client, app)
    key = uuid.uuid4().hex
    assert (await pay(client, resident, payload, 1_000, key=key)).status_code == 201
    other = await pay(client, resident, payload, 2_000, key=key)
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert await money_points(client, resident) == (9_000, 0)
    assert await payable(app, shop) == 11_000


async def test_a_refusal_is_the_keys_answer_even_after_a_top_up(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop, resident, payload = await _scene(client, app)
    key = uuid.uuid4().hex
    refused = await pay(client, resident, payload, 12_000, key=key)
    assert refused.status_code == 402, refused.text
    assert (await top_up(client, resident.wallet_id, 5_000)).status_code == 200
    retried = await pay(client, resident, payload, 12_000, key=key)
    assert (retried.status_code, retried.json()) == (402, refused.json())
    assert retried.headers["idempotent-replayed"] == "true"
    assert await payable(app, shop) == 10_000  # the scene's first payment
    # A new key is a new payment, and now it is paid.
    assert (await pay(client, resident, payload, 12_000)).status_code == 201


async def test_a_shop_that_cannot_be_paid_locks_nothing_and_answers_for_the_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop, resident, payload = await _scene(client, app)
    async with app.state.sessionmaker() as session:
        await session.execute(
            text("UPDATE merchants SET status = 'suspended' WHERE id = :id"), {"id": shop.id}
        )
        await session.commit()
    key = uuid.uuid4().hex
    refused = await pay(client, resident, payload, 1_000, key=key)
    assert refused.status_code == 422, refused.text
    assert "cannot take payments" in refused.json()["detail"]
    replay = await pay(client, resident, payload, 1_000, key=key)
    assert (replay.status_code, replay.json()) == (422, refused.json())


async def test_one_key_sent_twice_at_once_pays_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop, resident, payload = await _scene(client, app)
    key = uuid.uuid4().hex
    first, second = await asyncio.gather(
        pay(client, resident, payload, 1_000, key=key),
        pay(client, resident, payload, 1_000, key=key),
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.content == second.content
    # The second claim waits for the first one's COMMIT, then replays its answer.
    assert sorted(str(r.headers.get("idempotent-replayed")) for r in (first, second)) == [
        "None",
        "true",
    ]
    assert await money_points(client, resident) == (9_000, 0)
    assert await payable(app, shop) == 11_000


async def test_a_replay_does_not_wait_for_the_payers_lock(
    client: httpx.AsyncClient, app: FastAPI, database_url: str
) -> None:
    _, resident, payload = await _scene(client, app)
    key = uuid.uuid4().hex
    assert (await pay(client, resident, payload, 1_000, key=key)).status_code == 201
    holder = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM residents WHERE user_id = $1 FOR UPDATE", resident.id
            )
            # Were the replay to take the payer's lock, it would wait for this transaction,
            # which ends only after the replay: the guard turns that hang into a failure.
            replay = await asyncio.wait_for(pay(client, resident, payload, 1_000, key=key), 30)
            assert replay.headers["idempotent-replayed"] == "true"
    finally:
        await holder.close()
