"""DP mode: noisy answers within their stated error bands, and a budget that runs out.

The facts are written straight into the analytics store (a synthetic ward history, as
``machipay seed --payments`` writes it): a large cell through the payment path would take
minutes and prove nothing more about the noise.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import threading
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from analytics import dp, dp_pool
from analytics.models import QueryLog
from machipay.auth import Role
from machipay.settings import Settings
from tests.analytics.facts import fact, store_facts
from tests.api.shops import staff_token

# Street ids far above any the suite creates: each test's cells are its own.
_STREETS = itertools.count(9_000_000 + random.randrange(10**6) * 10)
# The ε of a data month is shared by every analyst, so each test spends its own months
# (all inside the window DP queries may read: from the first data month to now).
_MONTHS = iter(
    random.sample([f"{y}-{m:02d}" for y in (2024, 2025, 2026) for m in range(1, 13)][:30], 30)
)


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
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=600, payments_each=4, amount=1_500, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    answer = await ask_dp(
        client,
        analyst,
        0.5,
        measures=["payments", "spend", "residents", "average_ticket"],
        dimensions=["shopping_street"],
        filters={"shopping_street": [street], "month": [month]},
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
        filters={"shopping_street": [street], "month": [month]},
    )
    assert again.status_code == 200
    assert again.json()["rows"][0]["errors"]["payments"] > row["errors"]["payments"]


async def test_dp_refuses_once_the_months_budget_is_spent_and_logs_every_query(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=50, payments_each=2, amount=900, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    query = {
        "measures": ["payments"],
        "dimensions": ["shopping_street"],
        "filters": {"shopping_street": [street], "month": [month]},
    }
    budget_of_month = f"/api/v1/analytics/budget?month={month}"
    budget = (await client.get(budget_of_month, headers=analyst)).json()
    assert budget["epsilon_monthly"] == 1.0 and budget["epsilon_spent"] == 0.0
    for _ in range(2):
        assert (await ask_dp(client, analyst, 0.4, **query)).status_code == 200
    refused = await ask_dp(client, analyst, 0.4, **query)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("analytics-dp-budget-exhausted")
    assert abs(refused.json()["epsilon_remaining"] - 0.2) < 1e-9
    budget = (await client.get(budget_of_month, headers=analyst)).json()
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
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=1, payments_each=3, amount=5_000, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    answer = await ask_dp(
        client,
        analyst,
        0.5,
        measures=["payments"],
        dimensions=["week"],  # weeks are not listed: their keys come from the data
        filters={"shopping_street": [street], "month": [month]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == []  # one resident's week never shows up


async def spent_on(client: httpx.AsyncClient, analyst: dict[str, str], month: str) -> float:
    budget = await client.get(f"/api/v1/analytics/budget?month={month}", headers=analyst)
    assert budget.status_code == 200, budget.text
    [row] = budget.json()["months"]
    assert row["month"] == month
    return float(row["epsilon_spent"])


async def dp_log(app: FastAPI, street: int) -> list[tuple[str, float | None]]:
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(QueryLog.outcome, QueryLog.epsilon, QueryLog.query).order_by(QueryLog.id)
            )
        ).all()
    return [
        (outcome, epsilon)
        for outcome, epsilon, asked in rows
        if asked.get("mode") == "dp" and asked["filters"].get("shopping_street") == [street]
    ]


async def test_a_dp_query_matching_nothing_is_answered_charged_and_logged(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    street, month = next(_STREETS), next(_MONTHS)  # no fact anywhere on this street
    analyst = await staff_token(client, app, Role.ANALYST)
    for dimensions in (["shopping_street"], [], ["week"]):
        answer = await ask_dp(
            client,
            analyst,
            0.1,
            measures=["payments", "spend", "residents"],
            dimensions=dimensions,
            filters={"shopping_street": [street], "month": [month]},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        # Listed keys come back noisy whether anyone matched or not; open ones not at all.
        assert len(body["rows"]) == (0 if dimensions == ["week"] else 1)
        for row in body["rows"]:
            assert row["errors"]["payments"] > 0 and not row["suppressed"]
    assert abs(await spent_on(client, analyst, month) - 0.3) < 1e-9
    assert await dp_log(app, street) == [("answered", 0.1)] * 3


async def test_the_charge_and_the_log_survive_a_failure_after_them(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=20, payments_each=1, amount=700, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the noise went wrong after the data was read")

    monkeypatch.setattr("analytics.dp._release", broken)
    try:
        failed = await ask_dp(
            client,
            analyst,
            0.2,
            measures=["payments"],
            dimensions=["shopping_street"],
            filters={"shopping_street": [street], "month": [month]},
        )
        assert failed.status_code == 500
    except RuntimeError:
        pass  # the test client re-raises what the app did not handle
    monkeypatch.undo()
    logged = await dp_log(app, street)
    assert [e for _, e in logged] == [0.2] and logged[0][0] != "answered"
    assert abs(await spent_on(client, analyst, month) - 0.2) < 1e-9


async def test_the_error_band_comes_from_the_filters_not_from_the_months_in_the_data(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    months = sorted(next(_MONTHS) for _ in range(3))
    sparse, dense = next(_STREETS), next(_STREETS)
    await write_cell(app, street=sparse, residents=30, payments_each=1, amount=800, month=months[0])
    for month in months:
        await write_cell(app, street=dense, residents=30, payments_each=1, amount=800, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    bands = []
    for street in (sparse, dense):
        answer = await ask_dp(
            client,
            analyst,
            0.1,
            measures=["payments", "spend", "residents"],
            dimensions=["shopping_street"],
            filters={"shopping_street": [street], "month": months},
        )
        assert answer.status_code == 200, answer.text
        bands.append(answer.json()["rows"][0]["errors"])
    assert bands[0] == bands[1]


async def test_a_data_months_budget_is_shared_by_every_analyst(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    street, month, other = next(_STREETS), next(_MONTHS), next(_MONTHS)
    await write_cell(app, street=street, residents=40, payments_each=1, amount=600, month=month)
    first = await staff_token(client, app, Role.ANALYST)
    second = await staff_token(client, app, Role.ANALYST)
    query = {
        "measures": ["spend"],
        "dimensions": ["shopping_street"],
        "filters": {"shopping_street": [street], "month": [month]},
    }
    assert (await ask_dp(client, first, 0.7, **query)).status_code == 200
    refused = await ask_dp(client, second, 0.7, **query)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("analytics-dp-budget-exhausted")
    assert abs(refused.json()["epsilon_remaining"] - 0.3) < 1e-9
    # A query over two months needs ε from both: the spent month refuses it whole.
    both = {**query, "filters": {"shopping_street": [street], "month": [month, other]}}
    assert (await ask_dp(client, second, 0.5, **both)).status_code == 403
    assert await spent_on(client, second, other) == 0.0
    assert (await ask_dp(client, second, 0.3, **both)).status_code == 200
    assert abs(await spent_on(client, first, month) - 1.0) < 1e-9
    assert abs(await spent_on(client, first, other) - 0.3) < 1e-9


async def test_a_new_calendar_month_buys_nothing_for_old_data(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=40, payments_each=1, amount=600, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    query = {
        "measures": ["payments"],
        "dimensions": ["shopping_street"],
        "filters": {"shopping_street": [street], "month": [month]},
    }
    assert (await ask_dp(client, analyst, 1.0, **query)).status_code == 200
    monkeypatch.setattr("analytics.dp_budget.utcnow", lambda: datetime(2027, 3, 1, 3, tzinfo=UTC))
    refused = await ask_dp(client, analyst, 0.1, **query)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("analytics-dp-budget-exhausted")


async def test_a_busy_dp_pool_turns_a_query_away_before_it_spends_or_reads(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=20, payments_each=1, amount=700, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    body = {
        "measures": ["payments"],
        "dimensions": ["shopping_street"],
        "filters": {"shopping_street": [street], "month": [month]},
    }
    places = app_settings.analytics_dp_workers + app_settings.analytics_dp_queue
    with contextlib.ExitStack() as taken:
        for _ in range(places):  # every worker busy and the queue full
            taken.enter_context(dp_pool.admitted(app_settings))
        busy = await ask_dp(client, analyst, 0.2, **body)
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == str(app_settings.analytics_dp_retry_after_seconds)
        assert busy.json()["type"].endswith("/analytics-dp-busy")
    assert await spent_on(client, analyst, month) == 0  # turned away before the charge
    assert dp_pool.in_flight() == 0
    answered = await ask_dp(client, analyst, 0.2, **body)
    assert answered.status_code == 200, answered.text
    assert await dp_log(app, street) == [("refused", None), ("answered", 0.2)]


async def test_the_noise_is_computed_on_the_dp_pool_not_on_the_event_loop(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    street, month = next(_STREETS), next(_MONTHS)
    await write_cell(app, street=street, residents=20, payments_each=2, amount=700, month=month)
    analyst = await staff_token(client, app, Role.ANALYST)
    seen: list[tuple[str, int]] = []
    release = dp._release

    def watched(*args: Any, **kwargs: Any) -> Any:
        here = threading.current_thread()
        seen.append((here.name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return release(*args, **kwargs)

    monkeypatch.setattr("analytics.dp._release", watched)
    answer = await ask_dp(
        client,
        analyst,
        0.2,
        measures=["payments", "spend", "residents"],
        dimensions=["shopping_street"],
        filters={"shopping_street": [street], "month": [month]},
    )
    assert answer.status_code == 200, answer.text
    [(thread, niceness)] = seen
    assert thread.startswith("dp") and thread != threading.main_thread().name
    assert niceness >= dp_pool.NICENESS
