"""Property: any interleaving of top-ups, P2P transfers and their replays keeps the books.

After each example: every wallet's balance equals the sum of its own history, the money
in wallets equals what the funding network credited, and ``verify`` is green.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from assembly.app import create_app
from machipay.settings import Settings
from tests.api.conftest import WEBHOOK_SECRET, ResidentHandle, register, top_up
from tests.own_loop import run_on_own_loop

PEOPLE = 3
steps = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.integers(0, PEOPLE - 1), st.integers(1, 60_000)),
        st.tuples(
            st.just("send"),
            st.integers(0, PEOPLE - 1),
            st.integers(0, PEOPLE - 1),
            st.integers(1, 30_000),
        ),
        st.tuples(st.just("replay"), st.integers(0, 100)),
    ),
    min_size=1,
    max_size=15,
)


async def run_steps(database: str, redis_url: str | None, plan: list[tuple[Any, ...]]) -> None:
    app = create_app(
        Settings(
            database_url=database,
            redis_url=redis_url,
            environment="test",
            sealer_enabled=False,
            funding_webhook_secret=WEBHOOK_SECRET,
            requests_per_ip_per_minute=1_000_000,
            registrations_per_ip_per_hour=1_000_000,
            wallet_balance_cap=100_000,
        ),
        configure_logs=False,
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            people = [await register(client, name=f"P{i}") for i in range(PEOPLE)]
            done: list[tuple[str, Any, httpx.Response]] = []  # (kind, request, first response)
            credited = 0
            for step in plan:
                if step[0] == "topup":
                    event = uuid.uuid4().hex
                    response = await top_up(
                        client, people[step[1]].wallet_id, step[2], event_id=event
                    )
                    assert response.status_code in (200, 422), response.text  # 422: balance cap
                    if response.status_code == 200:
                        credited += step[2]
                        done.append(
                            ("topup", (people[step[1]].wallet_id, step[2], event), response)
                        )
                elif step[0] == "send":
                    sender, to, amount = people[step[1]], people[step[2]], step[3]
                    key = uuid.uuid4().hex
                    response = await _send(client, sender, to, amount, key)
                    assert response.status_code in (201, 402, 422), response.text
                    done.append(("send", (sender, to, amount, key), response))
                elif done:
                    kind, args, first = done[step[1] % len(done)]
                    before = [await _money(client, p) for p in people]
                    if kind == "topup":
                        again = await top_up(client, args[0], args[1], event_id=args[2])
                        assert again.json() == {"status": "duplicate"}
                    else:
                        # Refusals are results too: the same key answers the same way.
                        again = await _send(client, *args)
                        assert (again.status_code, again.json()) == (
                            first.status_code,
                            first.json(),
                        )
                    assert [await _money(client, p) for p in people] == before

            balances = [await _money(client, p) for p in people]
            assert all(b >= 0 for b in balances)
            assert sum(balances) == credited
            for person, money in zip(people, balances, strict=True):
                history = (
                    await client.get(
                        "/api/v1/wallet/transactions?limit=100", headers=person.headers
                    )
                ).json()
                assert sum(item["money_change"] for item in history["items"]) == money
        async with app.state.sessionmaker() as session:
            report = await ledger.verify_ledger(session)
        assert report.ok, [str(f) for f in report.findings]


async def _send(
    client: httpx.AsyncClient, sender: ResidentHandle, to: ResidentHandle, amount: int, key: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/transfers",
        json={"to_phone": to.phone, "amount": amount},
        headers=sender.headers | {"Idempotency-Key": key},
    )


async def _money(client: httpx.AsyncClient, person: ResidentHandle) -> int:
    return int((await client.get("/api/v1/wallet", headers=person.headers)).json()["money"])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps)
def test_interleavings_keep_every_wallet_equal_to_its_history(
    database_url: str, cache_url: str | None, plan: list[tuple[Any, ...]]
) -> None:
    run_on_own_loop(run_steps(database_url, cache_url, plan))
