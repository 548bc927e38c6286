"""DP mode: noisy answers within their stated error bands, and a budget that runs out.

The facts are written straight into the analytics store (a synthetic ward history, as
``machipay seed --payments`` writes it): a large cell through the payment path would take
minutes and prove nothing more about the noise.
"""

from __future__ import annotations

import itertools
import random
from datetime import date

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from analytics.models import QueryLog
from machipay.auth import Role
from tests.analytics.facts import fact, store_facts
from tests.api.shops import staff_token

# Street ids far above any the suite creates: each test's cells are its own.
_STREETS = itertools.count(9_000_000 + random.randrange(10**6) * 10)


async def write_cell(
    app: FastAPI, *, street: int, residents: int, payments_each: int, amount: int, month: str
) -> None:
    day = date.fromisoformat(month + "-10")
    rows = [
        fact(
            day,
            street,
            amount,
            resident=f"r{street}-{r}",
            shop=f"m{street}-{r % 7}",
            reward=amount // 10,
        )
        for r in range(residents)
        for _ in range(payments_each)
    ]
    async with app.state.sessionmaker() as session:
        await store_facts(session, rows)


async def ask_dp(
    client: httpx.AsyncClient, analyst: dict[str, str], epsilon: float, **body: object
) -> httpx.Response:
    return await client.post(
        "/api/v1/analytics/query",
        json={"mode": "dp", "epsilon": epsilon, **body},
        headers=analyst,
    )


async def test_dp_answers_fall_within_their_error_bands_on_a_large_cell(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    street = next(_STREETS)
    await write_cell(
        app, street=street, residents=600, payments_each=4, amount=1_500, month="2026-10"
    )
    analyst = await staff_token(client, app, Role.ANALYST)
    answer = await ask_dp(
        client,
        analyst,
        0.5,
        measures=["payments", "spend", "residents", "average_ticket"],
        dimensions=["shopping_street"],
        filters={"shopping_street": [street]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mode"] == "dp" and body["epsilon_spent"] == 0.5
    assert body["epsilon_remaining"] == 0.5
    [row] = body["rows"]
    truth = {"payments": 2_400, "spend": 3_600_000, "residents": 600, "average_ticket": 1_500}
    for measure, true_value in truth.items():
        band = row["errors"][measure]
        assert band is not None and band > 0, (measure, row)
        # The band is the 95 % half-width; Laplace noise beyond 3 bands has probability
        # e^-9 (about 1 in 8,000): a failure here means mis-calibrated noise, not bad luck.
        assert abs(row[measure] - true_value) <= 3 * band, (measure, row[measure], band)
    # Noise is really there: two answers of the same cell differ.
    again = await ask_dp(
        client,
        analyst,
        0.1,
        measures=["payments"],
        dimensions=["shopping_street"],
        filters={"shopping_street": [street]},
    )
    assert again.status_code == 200
    assert again.json()["rows"][0]["errors"]["payments"] > row["errors"]["payments"]


async def test_dp_refuses_once_the_months_budget_is_spent_and_logs_every_query(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    street = next(_STREETS)
    await write_cell(app, street=street, residents=50, payments_each=2, amount=900, month="2026-10")
    analyst = await staff_token(client, app, Role.ANALYST)
    query = {
        "measures": ["payments"],
        "dimensions": ["shopping_street"],
        "filters": {"shopping_street": [street]},
    }
    budget = (await client.get("/api/v1/analytics/budget", headers=analyst)).json()
    assert budget["epsilon_monthly"] == 1.0 and budget["epsilon_spent"] == 0.0
    for _ in range(2):
        assert (await ask_dp(client, analyst, 0.4, **query)).status_code == 200
    refused = await ask_dp(client, analyst, 0.4, **query)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("analytics-dp-budget-exhausted")
    assert abs(refused.json()["epsilon_remaining"] - 0.2) < 1e-9
    budget = (await client.get("/api/v1/analytics/budget", headers=analyst)).json()
    assert abs(budget["epsilon_spent"] - 0.8) < 1e-9
    # What is left can still be spent, exactly.
    assert (await ask_dp(client, analyst, 0.2, **query)).status_code == 200
    assert (await ask_dp(client, analyst, 0.01, **query)).status_code == 403
    async with app.state.sessionmaker() as session:
        logged = (
            await session.execute(
                select(QueryLog.outcome, QueryLog.epsilon)
                .where(QueryLog.query["mode"].as_string() == "dp")
                .order_by(QueryLog.id.desc())
                .limit(5)
            )
        ).all()
    assert [o for o, _ in logged] == ["refused", "answered", "refused", "answered", "answered"]
    assert [e for o, e in logged if o == "answered"] == [0.2, 0.4, 0.4]


async def test_an_open_ended_key_is_released_only_past_a_noisy_threshold(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    street = next(_STREETS)
    month = f"2031-{random.randrange(1, 13):02d}"  # a month no other test writes
    await write_cell(app, street=street, residents=1, payments_each=3, amount=5_000, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    answer = await ask_dp(
        client,
        analyst,
        0.5,
        measures=["payments"],
        dimensions=["month"],  # months are not listed: their keys come from the data
        filters={"shopping_street": [street]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == []  # one resident's month never shows up
