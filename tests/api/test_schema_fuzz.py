"""Schemathesis over the OpenAPI schema against a real server process: no input, however odd,
makes a 5xx, and every error is problem+json.

The server runs for the whole module on a database of its own (the run's database is
restored after every test), against Redis too when the run has one; its books must still
verify at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from machipay.db import create_engine
from machipay.settings import Settings
from tests.conftest import (
    REDIS_URL,
    assert_books_verify,
    create_scratch_postgres,
    drop_scratch_postgres,
    free_port,
)
from tests.sms import code_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# Seconds for set-up calls that hash a password with argon2 (slow on a busy host).
SLOW = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]) -> Iterator[str]:
    env = server_env
    subprocess.run(
        [sys.executable, "-m", "assembly", "migrate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    log = Path(tmp_path_factory.mktemp("fuzzlog")) / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "assembly", "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SLOW * 2
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
    server_errors = [line for line in log.read_text().splitlines() if '"level": "ERROR"' in line]
    assert not server_errors, server_errors[:5]


@pytest.fixture(scope="module")
async def fuzz_database() -> AsyncIterator[str]:
    url = await create_scratch_postgres("machipay_fuzz")
    yield url
    engine = create_engine(Settings(database_url=url, environment="test"))
    try:
        await assert_books_verify(engine)
    finally:
        await engine.dispose()
        await drop_scratch_postgres(url)


@pytest.fixture(scope="module")
def server_env(fuzz_database: str) -> dict[str, str]:
    database = fuzz_database
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env.update(
        MACHIPAY_ENVIRONMENT="development",  # the development secrets, and /openapi.json on
        MACHIPAY_DATABASE_URL=database,
        MACHIPAY_LOG_LEVEL="WARNING",
        # Fuzzing is a burst from one address and a few accounts: limits would answer most
        # calls with 429 before they reach real work.
        MACHIPAY_REQUESTS_PER_IP_PER_MINUTE="1000000",
        MACHIPAY_MONEY_MOVES_PER_ACCOUNT_PER_MINUTE="100000",
        MACHIPAY_ANALYTICS_QUERIES_PER_MINUTE="10000",
        MACHIPAY_ANALYTICS_QUERIES_PER_DAY="1000000",
        MACHIPAY_REGISTRATIONS_PER_IP_PER_HOUR="1000000",
        MACHIPAY_SEALER_ENABLED="false",
    )
    if REDIS_URL:
        env["MACHIPAY_REDIS_URL"] = REDIS_URL
    return env


def _sign_in(server: str, username: str, password: str) -> dict[str, str]:
    token = httpx.post(
        f"{server}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=SLOW,
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _new_resident(server: str, operator: dict[str, str]) -> dict[str, str]:
    """A resident who entered the code the SMS sink got (read as an operator), so the
    fuzzer reaches past the phone-verification gate."""
    value = uuid.uuid4().int
    phone = f"080{1 + value % 9}{value // 9 % 10**7:07d}"
    password = "fuzz-passphrase-" + uuid.uuid4().hex[:6]
    created = httpx.post(
        f"{server}/api/v1/residents",
        json={
            "phone": phone,
            "password": password,
            "display_name": "ファズ",
            "birth_year": 1980,
            "district": "taishido",
        },
        timeout=SLOW,
    )
    assert created.status_code == 201, created.text
    texted = httpx.get(
        f"{server}/api/v1/ops/sms", params={"to": phone}, headers=operator, timeout=SLOW
    )
    code = next(c for m in texted.json() if (c := code_in(m)) is not None)
    verified = httpx.post(
        f"{server}/api/v1/residents/verify", json={"phone": phone, "code": code}, timeout=SLOW
    )
    assert verified.status_code == 200, verified.text
    return _sign_in(server, phone, password)


@pytest.fixture(scope="module")
def role_headers(server: str, server_env: dict[str, str]) -> dict[str, dict[str, str]]:
    """A signed-in user of every role, staff made as operators make them (the CLI), a shop
    through its public application and an officer's approval."""
    password = "fuzz-staff-passphrase-" + uuid.uuid4().hex[:6]
    headers: dict[str, dict[str, str]] = {}
    for role in ("officer", "approver", "operator", "analyst"):
        username = f"fuzz-{role}-{uuid.uuid4().hex[:6]}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "assembly",
                "users",
                "create",
                "--role",
                role,
                "--username",
                username,
                "--password",
                password,
            ],
            env=server_env,
            check=True,
            capture_output=True,
        )
        headers[role] = _sign_in(server, username, password)
    owner = f"fuzz-shop-{uuid.uuid4().hex[:6]}"
    applied = httpx.post(
        f"{server}/api/v1/merchants",
        json={
            "name": "ファズ商店",
            "name_kana": "ファズショウテン",
            "category": "grocery",
            "store_type": "small",
            "postal_code": "155-0031",
            "address": "東京都世田谷区北沢2-1-1",
            "owner_username": owner,
            "owner_password": password,
            "bank": {
                "bank_code": "0001",
                "branch_code": "123",
                "account_type": "ordinary",
                "account_number": "1234567",
                "account_name_kana": "ﾌｧｽﾞｼｮｳﾃﾝ",
            },
        },
        timeout=SLOW,
    )
    assert applied.status_code == 201, applied.text
    approved = httpx.post(
        f"{server}/api/v1/merchants/{applied.json()['id']}/approve",
        headers=headers["officer"],
        timeout=SLOW,
    )
    assert approved.status_code == 200, approved.text
    headers["merchant_owner"] = _sign_in(server, owner, password)
    headers["resident"] = _new_resident(server, headers["operator"])
    # Logout ends the session it is called with: it gets a session of its own.
    headers["logout"] = _new_resident(server, headers["operator"])
    return headers


def role_for(method: str, path: str) -> str:
    """Whose token an operation is called with: the role that may use it (the public ones
    ignore it), so that generated input reaches the work behind the role checks."""
    if path == "/api/v1/auth/logout":
        return "logout"
    if path.startswith(
        ("/api/v1/campaigns/{campaign_id}/", "/api/v1/benefits/{benefit_id}/")
    ) and path.endswith(("/approve", "/reject")):
        return "approver"
    if path == "/api/v1/merchant" or path.startswith("/api/v1/merchant/"):
        return "merchant_owner"
    if path == "/api/v1/merchants/import":  # the ward's recruitment list: officers only
        return "officer"
    prefixes = {
        "/api/v1/campaigns": "officer",
        "/api/v1/benefits": "officer",
        "/api/v1/notices": "officer",
        "/api/v1/shopping-streets": "officer",
        "/api/v1/analytics/": "analyst",
        "/api/v1/merchants": "operator",
        "/api/v1/settlements/": "operator",
        "/api/v1/payouts": "operator",
        "/api/v1/payout-files": "operator",
        "/api/v1/ops/": "operator",
    }
    for prefix, role in prefixes.items():
        if path.startswith(prefix):
            return role
    return "resident"


# An endless text/event-stream: generated calls would each wait out the client's timeout.
# tests/api/test_live_events.py covers it.
STREAMS = {("GET", "/api/v1/merchant/events")}


@pytest.fixture(scope="module")
def api_schema(server: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


def errors_are_problem_json(response: schemathesis.Response) -> None:
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        value = content_type[0] if isinstance(content_type, list) else content_type
        assert value.startswith("application/problem+json"), f"{response.status_code} with {value}"
        body = json.loads(response.content)
        assert {"type", "title", "status", "detail"} <= body.keys(), body


def fuzz(operation: Any, headers: dict[str, str]) -> list[int]:
    """Call one operation with generated input; the statuses it answered."""
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def call(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        response = case.call(headers=headers | {"Idempotency-Key": uuid.uuid4().hex}, timeout=SLOW)
        seen.append(response.status_code)
        assert response.status_code < 500, (
            case.method,
            case.path,
            response.status_code,
            response.text[:300],
        )
        errors_are_problem_json(response)

    call()
    return seen


def test_no_input_makes_a_server_error(
    api_schema: schemathesis.BaseSchema, role_headers: dict[str, dict[str, str]]
) -> None:
    # schemathesis' own pytest plugin does not run on this pytest; drive its hypothesis
    # strategies directly, one operation at a time, every operation of the schema.
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 50
    statuses: list[int] = []
    refused_only: list[str] = []
    for operation in operations:
        method = operation.method.upper()
        if (method, operation.path) in STREAMS:
            continue
        seen = fuzz(operation, role_headers[role_for(method, operation.path)])
        statuses.extend(seen)
        if all(s == 403 for s in seen):
            refused_only.append(f"{method} {operation.path}")
    # Every operation was called by a role it lets in (role_for is right), and the calls
    # reached real work, not only the validators: some succeeded, some were refused.
    assert not refused_only, refused_only
    assert len(statuses) >= 500
    assert any(s < 300 for s in statuses) and any(s == 422 for s in statuses)


def test_the_event_stream_refuses_without_a_token_as_problem_json(server: str) -> None:
    response = httpx.get(f"{server}/api/v1/merchant/events", timeout=10)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
