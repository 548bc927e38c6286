"""The HTTP kernel: health, readiness, metrics, OpenAPI, problem+json, request ids."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

import ledger
from machipay.app import create_app
from machipay.db import create_engine
from machipay.logging import JsonFormatter, request_id_var
from machipay.migrate import DatabaseNotMigrated
from machipay.settings import Settings
from tests.conftest import REDIS_URL


def _settings(database_url: str, redis_url: str | None) -> Settings:
    return Settings(
        database_url=database_url, redis_url=redis_url, environment="test", sealer_enabled=False
    )


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def app(database_url_for: str) -> FastAPI:
    application = create_app(_settings(database_url_for, REDIS_URL), configure_logs=False)

    @application.get("/_test/insufficient")
    async def _raise() -> None:
        raise ledger.InsufficientFunds("resident:1:money")

    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(app):
        yield c


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_cache(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


async def test_readyz_is_503_when_redis_is_down(database_url_for: str) -> None:
    app = create_app(_settings(database_url_for, "redis://127.0.0.1:1/0"), configure_logs=False)
    async for client in _client(app):
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["cache"] == "down"


async def test_readyz_is_503_when_the_database_is_down(app: FastAPI) -> None:
    async for client in _client(app):
        app.state.engine = create_engine(
            Settings(
                database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", environment="test"
            )
        )
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == "down"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    body = (await client.get("/metrics")).text
    assert 'machipay_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "machipay_http_request_duration_seconds_bucket" in body


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/readyz" in spec["paths"]


async def test_errors_are_problem_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= missing.json().keys()

    refused = await client.get("/_test/insufficient")
    assert refused.status_code == 402
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"].endswith("/insufficient-funds")
    assert body["account"] == "resident:1:money"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made.headers["X-Request-ID"]) == 32


async def test_app_refuses_an_unmigrated_database(tmp_path: object) -> None:
    app = create_app(
        _settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db", None), configure_logs=False
    )
    with pytest.raises(DatabaseNotMigrated, match="machipay migrate"):
        async with app.router.lifespan_context(app):
            pass


def test_logs_are_json_lines_with_the_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "machipay.test", "msg": "paid %s", "args": ("¥500",), "levelname": "INFO"}
    )
    token = request_id_var.set("req-42")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    parsed = json.loads(line)
    assert parsed["msg"] == "paid ¥500"
    assert parsed["request_id"] == "req-42"
