"""Points lots: spent oldest expiry first, expired per lot, always equal to the points account."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

import ledger
from assembly.app import create_app
from ledger import credit, debit
from machipay.settings import Settings
from machipay.timeutil import utcnow
from tests.api.conftest import register
from wallet_api import expire_points, grant_points, take_points
from wallet_api.errors import InsufficientPoints
from wallet_api.models import PointsLot


async def _campaign(app: FastAPI, budget: int = 100_000) -> int:
    campaign = uuid.uuid4().int % 10**9
    async with app.state.sessionmaker() as session:
        await ledger.open_account(session, ledger.campaign_budget(campaign))
        await ledger.post_entry(
            session,
            idempotency_key=f"fund-{campaign}",
            kind="campaign_funding",
            legs=[
                debit(ledger.BANK_CITY, budget),
                credit(ledger.campaign_budget(campaign), budget),
            ],
        )
        await session.commit()
    return campaign


async def _points_state(app: FastAPI, resident_id: int) -> tuple[int, int]:
    async with app.state.sessionmaker() as session:
        account = await ledger.get_balance(session, ledger.resident_points(resident_id))
        lots = (
            await session.execute(
                select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                    PointsLot.resident_id == resident_id
                )
            )
        ).scalar_one()
    return account, int(lots)


async def test_spend_oldest_expiry_first_then_expire_the_rest(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    resident = await register(client)
    campaign = await _campaign(app)
    now = utcnow()
    async with app.state.sessionmaker() as session:
        late = await grant_points(
            session,
            resident_id=resident.id,
            amount=500,
            campaign_id=campaign,
            expires_at=now + timedelta(days=60),
            idempotency_key=uuid.uuid4().hex,
            counterparty="c",
        )
        early = await grant_points(
            session,
            resident_id=resident.id,
            amount=300,
            campaign_id=campaign,
            expires_at=now + timedelta(days=10),
            idempotency_key=uuid.uuid4().hex,
            counterparty="c",
        )
        await session.commit()
    assert late and early
    async with app.state.sessionmaker() as session:
        takes = await take_points(session, resident.id, 400, now=now)
        assert [(t.lot_id, t.amount) for t in takes] == [(early, 300), (late, 100)]
        merchant = f"merchant:{uuid.uuid4().hex[:8]}:payable"
        await ledger.open_account(session, merchant)
        await ledger.post_entry(
            session,
            idempotency_key=uuid.uuid4().hex,
            kind="payment",
            legs=[debit(ledger.resident_points(resident.id), 400), credit(merchant, 400)],
        )
        await session.commit()
    assert await _points_state(app, resident.id) == (400, 400)

    async with app.state.sessionmaker() as session:
        with pytest.raises(InsufficientPoints):
            await take_points(session, resident.id, 401, now=now)
        await session.rollback()

    # Sixty-one days later the late lot has expired: its 400 go to the campaign's breakage.
    later = now + timedelta(days=61)
    async with app.state.sessionmaker() as session:
        assert await expire_points(session, now=later) >= 1
        await session.commit()
    assert await _points_state(app, resident.id) == (0, 0)
    async with app.state.sessionmaker() as session:
        assert await ledger.get_balance(session, ledger.campaign_breakage(campaign)) == 400
        assert await expire_points(session, now=later) == 0  # nothing left to expire
        report = await ledger.verify_ledger(session)
    assert report.ok, report.findings
    wallet = (await client.get("/api/v1/wallet", headers=resident.headers)).json()
    assert (wallet["points"], wallet["points_lots"], wallet["next_points_expiry"]) == (0, [], None)


async def test_lots_are_spent_each_by_its_take_or_not_at_all(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """wallet_spend_lots, which every payment's points go through: each lot loses exactly its
    take; a take a lot cannot cover stops the whole statement (the caller's lock makes that
    impossible on the payment path; the guard is why a bug there cannot spend points twice)."""
    resident = await register(client)
    campaign = await _campaign(app)
    now = utcnow()
    async with app.state.sessionmaker() as session:
        lots = [
            await grant_points(
                session,
                resident_id=resident.id,
                amount=amount,
                campaign_id=campaign,
                expires_at=now + timedelta(days=30),
                idempotency_key=uuid.uuid4().hex,
                counterparty="c",
            )
            for amount in (300, 200)
        ]
        await session.commit()
    spend = text("SELECT wallet_spend_lots('pay_test', :lots, :takes)").bindparams(
        bindparam("lots", type_=ARRAY(BigInteger())), bindparam("takes", type_=ARRAY(BigInteger()))
    )

    async def remaining() -> list[int]:
        async with app.state.sessionmaker() as session:
            found = await session.execute(
                select(PointsLot.id, PointsLot.remaining).where(PointsLot.id.in_(lots))
            )
            by_id = dict(found.tuples().all())
        return [int(by_id[lot]) for lot in lots]

    async with app.state.sessionmaker() as session:
        await session.execute(spend, {"lots": lots, "takes": [120, 200]})
        await session.execute(spend, {"lots": [], "takes": []})  # nothing to spend
        await session.commit()
    assert await remaining() == [180, 0]

    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError, match=rf"points lot {lots[1]} could not be spent"):
            await session.execute(spend, {"lots": lots, "takes": [100, 1]})
        await session.rollback()
    assert await remaining() == [180, 0]  # the first lot's take was undone with the statement


@pytest.fixture
def app_on_own_loop(app_settings: Settings) -> Iterator[tuple[FastAPI, asyncio.AbstractEventLoop]]:
    """Hypothesis drives a sync function: give it an app running on a loop of its own."""
    loop = asyncio.new_event_loop()
    application = create_app(app_settings, configure_logs=False)
    lifespan = application.router.lifespan_context(application)
    loop.run_until_complete(lifespan.__aenter__())
    try:
        yield application, loop
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    grants=st.lists(st.tuples(st.integers(1, 1_000), st.integers(-5, 90)), min_size=1, max_size=6),
    spends=st.lists(st.integers(1, 800), max_size=6),
)
def test_points_account_always_equals_the_sum_of_lots(
    app_on_own_loop: tuple[FastAPI, asyncio.AbstractEventLoop],
    grants: list[tuple[int, int]],
    spends: list[int],
) -> None:
    app, loop = app_on_own_loop

    async def run() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            resident = await register(client)
        campaign = await _campaign(app)
        shop = f"merchant:{uuid.uuid4().hex[:8]}:payable"
        now = utcnow()
        async with app.state.sessionmaker() as session:
            await ledger.open_account(session, shop)
            for amount, days in grants:
                await grant_points(
                    session,
                    resident_id=resident.id,
                    amount=amount,
                    campaign_id=campaign,
                    expires_at=now + timedelta(days=days),
                    idempotency_key=uuid.uuid4().hex,
                    counterparty="c",
                )
            await session.commit()
        for amount in spends:
            async with app.state.sessionmaker() as session:
                try:
                    await take_points(session, resident.id, amount, now=now)
                except InsufficientPoints:
                    await session.rollback()
                    continue
                await ledger.post_entry(
                    session,
                    idempotency_key=uuid.uuid4().hex,
                    kind="payment",
                    legs=[debit(ledger.resident_points(resident.id), amount), credit(shop, amount)],
                )
                await session.commit()
        async with app.state.sessionmaker() as session:
            await expire_points(session, now=now)
            await session.commit()
        account, lots = await _points_state(app, resident.id)
        assert account == lots >= 0
        live = sum(a for a, d in grants if d > 0)
        assert account <= live  # expired lots were taken out

    loop.run_until_complete(run())
