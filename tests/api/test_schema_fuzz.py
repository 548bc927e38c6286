"""Schemathesis over the OpenAPI schema against a real server process: no input, however odd,
makes a 5xx, and every error is problem+json.

It runs against PostgreSQL + Redis when they are configured (as in CI), else SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import IN_CI, PG_URL, REDIS_URL, free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, postgres_url_or_none: str | None
) -> Iterator[str]:
    database = (
        postgres_url_or_none or f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env.update(
        MACHIPAY_ENVIRONMENT="development",  # the development secrets, and /openapi.json on
        MACHIPAY_DATABASE_URL=database,
        MACHIPAY_LOG_LEVEL="WARNING",
        MACHIPAY_REQUESTS_PER_IP_PER_MINUTE="1000000",
        MACHIPAY_REGISTRATIONS_PER_IP_PER_HOUR="1000000",
        MACHIPAY_SEALER_ENABLED="false",
    )
    if postgres_url_or_none and REDIS_URL:
        env["MACHIPAY_REDIS_URL"] = REDIS_URL
    subprocess.run(
        [sys.executable, "-m", "machipay", "migrate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    log = Path(tmp_path_factory.mktemp("fuzzlog")) / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "machipay", "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)
    server_errors = [line for line in log.read_text().splitlines() if '"level": "ERROR"' in line]
    assert not server_errors, server_errors[:5]


@pytest.fixture(scope="module")
def postgres_url_or_none(request: pytest.FixtureRequest) -> str | None:
    if not PG_URL:
        assert not IN_CI
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module")
def resident_headers(server: str) -> dict[str, str]:
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
    )
    assert created.status_code == 201, created.text
    token = httpx.post(
        f"{server}/api/v1/auth/token", json={"username": phone, "password": password}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


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


def test_no_input_makes_a_server_error(
    api_schema: schemathesis.BaseSchema, resident_headers: dict[str, str]
) -> None:
    # schemathesis' own pytest plugin does not run on this pytest; drive its hypothesis
    # strategies directly, one operation at a time.
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            response = case.call(
                headers=resident_headers | {"Idempotency-Key": uuid.uuid4().hex}, timeout=10
            )
            statuses.append(response.status_code)
            assert response.status_code < 500, (
                case.method,
                case.path,
                response.status_code,
                response.text[:300],
            )
            errors_are_problem_json(response)

        call()
    # It reached real work, not only the validators: some calls succeeded, some were refused.
    assert len(statuses) >= 100
    assert any(s < 300 for s in statuses) and any(s == 422 for s in statuses)
