"""Group commit for sticker payments (issue 20 item 3): a worker's concurrent payments in one
transaction and one COMMIT, each still accepted or refused on its own, keeping its
Idempotency-Key, answered after its COMMIT; a batch that fails as a whole is paid one by one.
On PostgreSQL and Redis, through the real app."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import AsyncSession

import payments.service
from machipay.errors import MachipayError
from machipay.idempotency import IdempotencyRecord, IdempotentRequest, request_hash
from machipay.settings import Settings
from merchant_api import parse_shop_qr
from payments import PaymentGroupCommit, qr_pay
from payments.routes import payment_out
from payments.schemas import PaymentRequest
from payments.service import PaymentAsk, PaymentClaim, PaymentDone
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, open_shop, sticker_payload
from tests.api.test_payments import money_points, pay, payable, verify_green


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    # One flusher: while its batch is on the wire, every other payment queues for the next
    # one, so what a batch holds is decided by the test, not by timing. Lock waits long
    # enough for a test to hold a payer's lock on purpose.
    return app_settings.model_copy(
        update={"payment_batch_flushers": 1, "db_lock_timeout_ms": 30_000}
    )


def batches(app: FastAPI) -> PaymentGroupCommit:
    committer = app.state.payment_batches
    assert isinstance(committer, PaymentGroupCommit)
    return committer


async def funded(client: httpx.AsyncClient, amount: int = 10_000) -> ResidentHandle:
    resident = await register(client)
    if amount:
        assert (await top_up(client, resident.wallet_id, amount)).status_code == 200
    return resident


async def holding_payers_lock(database_url: str, resident: ResidentHandle) -> asyncpg.Connection:
    """Another connection holding the payer's lock (the row wallet_lock_lots locks) in an
    open transaction, until the test rolls it back."""
    holder = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(False)
    )
    await holder.execute("BEGIN")
    await holder.execute("SELECT 1 FROM residents WHERE user_id = $1 FOR UPDATE", resident.id)
    return holder


async def until_queued(app: FastAPI, count: int) -> None:
    for _ in range(2_000):
        if batches(app).queued >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{batches(app).queued} payments queued, expected {count}")


async def until_in_a_batch(app: FastAPI, resident: ResidentHandle) -> None:
    for _ in range(2_000):
        if batches(app).paying(resident.id) and not batches(app).queued:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the payment never reached a batch")


async def test_payments_that_arrive_together_share_one_batch_and_one_commit(
    client: httpx.AsyncClient, app: FastAPI, database_url: str
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    first, *others = [await funded(client) for _ in range(6)]
    before = Counter(batches(app).stats.batch_sizes)
    holder = await holding_payers_lock(database_url, first)
    try:
        # The first payment's batch waits for the held lock; the five after it queue.
        waiting_first = asyncio.create_task(pay(client, first, payload, 1_000))
        await until_in_a_batch(app, first)
        paying = [
            asyncio.create_task(pay(client, r, payload, 1_000 + i)) for i, r in enumerate(others)
        ]
        await until_queued(app, 5)
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    answers = [await waiting_first, *[await p for p in paying]]
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert Counter(batches(app).stats.batch_sizes) - before == Counter({1: 1, 5: 1})
    assert batches(app).stats.fallbacks == 0
    for i, resident in enumerate(others):
        assert await money_points(client, resident) == (10_000 - 1_000 - i, 0)
    assert await payable(app, shop) == 6_000 + sum(range(5))
    await verify_green(app)


async def test_a_refused_payment_in_a_batch_undoes_nothing_of_the_others(
    client: httpx.AsyncClient, app: FastAPI, database_url: str
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    blocker, rich, poor = await funded(client), await funded(client), await funded(client, 500)
    holder = await holding_payers_lock(database_url, blocker)
    try:
        blocked = asyncio.create_task(pay(client, blocker, payload, 100))
        await until_in_a_batch(app, blocker)
        key = uuid.uuid4().hex
        paying = [
            asyncio.create_task(pay(client, rich, payload, 3_000)),
            asyncio.create_task(pay(client, poor, payload, 3_000, key=key)),
        ]
        await until_queued(app, 2)
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    assert (await blocked).status_code == 201
    paid, refused = [await p for p in paying]
    assert paid.status_code == 201, paid.text
    assert refused.status_code == 402, refused.text
    assert refused.json()["type"].endswith("/insufficient-funds")
    assert await money_points(client, rich) == (7_000, 0)
    assert await money_points(client, poor) == (500, 0)
    assert await payable(app, shop) == 3_100
    # The refusal is the key's answer from now on, even once the money is there.
    assert (await top_up(client, poor.wallet_id, 5_000)).status_code == 200
    again = await pay(client, poor, payload, 3_000, key=key)
    assert (again.status_code, again.json()) == (402, refused.json())
    assert batches(app).stats.fallbacks == 0
    await verify_green(app)


async def test_one_payer_twice_at_once_is_paid_in_two_batches(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    resident = await funded(client)
    answers = await asyncio.gather(*(pay(client, resident, payload, 1_000) for _ in range(4)))
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.json()["id"] for a in answers}) == 4
    assert await money_points(client, resident) == (6_000, 0)
    await verify_green(app)


def _sticker_payment(
    resident: ResidentHandle, payload: str, amount: int, key: str
) -> qr_pay.QrPayment:
    body = PaymentRequest(qr_payload=payload, amount=amount)
    path = "/api/v1/payments"
    request = IdempotentRequest(
        f"user:{resident.id}", key, request_hash("POST", path, body.model_dump(mode="json")), path
    )
    return qr_pay.QrPayment(
        resident.id,
        payload,
        amount,
        True,
        PaymentClaim(request, answer=lambda done: (201, payment_out(done))),
    )


async def test_each_payment_of_a_batch_gets_its_own_outcome(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """pay_stickers, the batch itself: paid, routed out (nothing of it kept), replayed, and a
    key reused for another payment, all in one call and one transaction."""
    settings = app.state.settings
    shop: ShopHandle = await open_shop(client, app)
    closed = await open_shop(client, app)
    payload, closed_payload = (
        await sticker_payload(client, shop),
        await sticker_payload(client, closed),
    )
    async with app.state.sessionmaker() as session:
        await session.execute(
            text("UPDATE merchants SET status = 'suspended' WHERE id = :id"), {"id": closed.id}
        )
        await session.commit()
    paid_before, reused, payer, poor, at_closed = [await funded(client) for _ in range(5)]
    earlier_key, reused_key = uuid.uuid4().hex, uuid.uuid4().hex
    earlier = await pay(client, paid_before, payload, 1_000, key=earlier_key)
    assert earlier.status_code == 201
    assert (await pay(client, reused, payload, 1_000, key=reused_key)).status_code == 201

    asks = [
        _sticker_payment(paid_before, payload, 1_000, earlier_key),  # a replay
        _sticker_payment(reused, payload, 2_000, reused_key),  # same key, another payment
        _sticker_payment(payer, payload, 4_000, uuid.uuid4().hex),  # paid
        _sticker_payment(poor, payload, 20_000, uuid.uuid4().hex),  # too little money
        _sticker_payment(at_closed, closed_payload, 1_000, uuid.uuid4().hex),  # shop suspended
    ]
    asks.sort(key=lambda a: a.resident_id)
    async with app.state.sessionmaker() as session:
        answers = await qr_pay.pay_stickers(
            session,
            settings,
            [(a, parse_shop_qr(settings, a.payload)) for a in asks],
            rewards=app.state.campaign_rewards,
        )
        await session.commit()
    by_payer = {a.resident_id: answer for a, answer in zip(asks, answers, strict=True)}

    replay = by_payer[paid_before.id]
    assert replay.stored is not None and replay.stored.replayed
    assert (replay.stored.status_code, replay.stored.body_text.encode()) == (201, earlier.content)
    refusal = by_payer[reused.id].refusal
    assert isinstance(refusal, MachipayError) and refusal.status == 422
    done = by_payer[payer.id]
    assert done.stored is not None and not done.stored.replayed
    assert done.stored.status_code == 201
    assert by_payer[poor.id].alone and by_payer[at_closed.id].alone

    assert await money_points(client, payer) == (6_000, 0)
    assert await money_points(client, poor) == (10_000, 0)
    assert await money_points(client, reused) == (9_000, 0)
    async with app.state.sessionmaker() as session:
        keys = set(
            (
                await session.execute(
                    select(IdempotencyRecord.scope).where(
                        IdempotencyRecord.scope.in_(
                            [f"user:{poor.id}", f"user:{at_closed.id}", f"user:{payer.id}"]
                        )
                    )
                )
            ).scalars()
        )
    # A payment routed out of the batch left nothing, not even its key's claim.
    assert keys == {f"user:{payer.id}"}
    await verify_green(app)


async def test_a_batch_that_fails_as_a_whole_pays_each_on_its_own(
    client: httpx.AsyncClient,
    app: FastAPI,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = await open_shop(client, app)
    payload = await sticker_payload(client, shop)
    blocker, *payers = [await funded(client) for _ in range(4)]
    real_pay_many = payments.service.pay_many
    failures: list[bool] = []

    async def failing_once(
        session: AsyncSession, settings: Settings, asks: Sequence[PaymentAsk], **kwargs: Any
    ) -> list[PaymentDone]:
        if len(asks) > 1 and not failures:
            failures.append(True)
            raise RuntimeError("the batch fails at its last call")
        return await real_pay_many(session, settings, asks, **kwargs)

    monkeypatch.setattr(qr_pay, "pay_many", failing_once)
    holder = await holding_payers_lock(database_url, blocker)
    try:
        blocked = asyncio.create_task(pay(client, blocker, payload, 100))
        await until_in_a_batch(app, blocker)
        paying = [asyncio.create_task(pay(client, r, payload, 2_000)) for r in payers]
        await until_queued(app, 3)
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    assert (await blocked).status_code == 201
    answers = [await p for p in paying]
    assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
    assert failures == [True]
    assert batches(app).stats.fallbacks == 1
    for resident in payers:
        assert await money_points(client, resident) == (8_000, 0)
    # Paid exactly once each: the failed batch wrote nothing.
    assert await payable(app, shop) == 6_100
    await verify_green(app)


async def test_each_flusher_starts_on_a_connection_with_the_batch_prepared(
    app: FastAPI,
) -> None:
    """Start-up opens the flushers' connections and rehearses a batch on each, so the first
    batch waits for no connection and no statement to prepare (and the rehearsal kept
    nothing)."""
    engine = app.state.engine
    pooled = engine.pool.checkedin()
    async with engine.connect() as connection:
        names = (
            await connection.execute(
                text(
                    "SELECT substring(statement FROM '(payment_open_batch|"
                    "campaign_grant_batch|payment_record_batch)') FROM pg_prepared_statements"
                    " WHERE statement NOT LIKE '%pg_prepared_statements%'"
                )
            )
        ).scalars()
        prepared = sorted(n for n in names if n)
    assert pooled == app.state.settings.payment_batch_flushers == 1
    assert prepared == ["campaign_grant_batch", "payment_open_batch", "payment_record_batch"]
    async with app.state.sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM payments"))).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM idempotency_keys"))).scalar() == 0
