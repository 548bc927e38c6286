"""The HTTP kernel: health, readiness, metrics, OpenAPI, problem+json, request ids."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

import ledger
from assembly.app import create_app
from machipay.auth import Role
from machipay.db import create_engine
from machipay.logging import JsonFormatter, request_id_var
from machipay.migrate import DatabaseNotMigrated, MoneyTriggersMissing
from machipay.settings import Settings
from tests.api.shops import staff_token
from tests.conftest import (
    REDIS_URL,
    create_scratch_postgres,
    drop_scratch_postgres,
    migrated_engine,
)

ACCOUNT_KEY = re.compile(r"\b(resident|merchant|campaign|bank|platform):[\w-]*")
METRICS_TOKEN = "metrics-scrape-token-0123456789-abcdefghij"
STRONG_SECRETS = {
    "secret_key": "k" * 40,
    "funding_webhook_secret": "w" * 40,
    "analytics_pseudonym_secret": "p" * 40,
    "sms_backend": "http",
    "sms_gateway_url": "https://sms-gateway.example/v1/messages",
    "sms_api_key": "g" * 32,
}


def _settings(database_url: str, redis_url: str | None, **changes: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "environment": "test",
        "sealer_enabled": False,
        "metrics_token": METRICS_TOKEN,
        **changes,
    }
    return Settings(**values)  # type: ignore[arg-type]


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def app(database_url: str) -> FastAPI:
    application = create_app(_settings(database_url, REDIS_URL), configure_logs=False)

    @application.get("/_test/insufficient")
    async def _raise() -> None:
        raise ledger.InsufficientFunds("resident:1:money")

    @application.get("/_test/ledger/{kind}")
    async def _ledger_error(kind: str) -> None:
        raise {
            "payable": ledger.InsufficientFunds("merchant:7:payable"),
            "budget": ledger.InsufficientFunds("campaign:3:budget"),
            "unknown": ledger.UnknownAccount("resident:81:money"),
            "key": ledger.IdempotencyConflict("refund:7:abc"),
        }[kind]

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


async def test_readyz_is_503_when_redis_is_down(database_url: str) -> None:
    app = create_app(_settings(database_url, "redis://127.0.0.1:1/0"), configure_logs=False)
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


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await client.get("/healthz")
    operator = await staff_token(client, app, Role.OPERATOR)
    body = (await client.get("/metrics", headers=operator)).text
    assert 'machipay_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "machipay_http_request_duration_seconds_bucket" in body


async def test_metrics_need_an_operator_or_the_scrape_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    anonymous = await client.get("/metrics")
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert "machipay_http" not in anonymous.text
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    officer = await staff_token(client, app, Role.OFFICER)
    assert (await client.get("/metrics", headers=officer)).status_code == 403
    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    scraped = await client.get("/metrics", headers=scrape)
    assert scraped.status_code == 200
    assert "machipay_http_requests_total" in scraped.text


async def test_metrics_without_a_scrape_token_take_operators_only(database_url: str) -> None:
    app = create_app(_settings(database_url, REDIS_URL, metrics_token=None), configure_logs=False)
    async for client in _client(app):
        assert (await client.get("/metrics")).status_code == 401
        # No configured token: an empty or guessed bearer never matches "nothing".
        assert (
            await client.get("/metrics", headers={"Authorization": "Bearer None"})
        ).status_code == 401
        operator = await staff_token(client, app, Role.OPERATOR)
        assert (await client.get("/metrics", headers=operator)).status_code == 200


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/readyz" in spec["paths"]
    assert "/metrics" not in spec["paths"]


async def test_docs_are_off_in_production_unless_enabled(database_url: str) -> None:
    production = _settings(database_url, REDIS_URL, environment="production", **STRONG_SECRETS)
    app = create_app(production, configure_logs=False)
    async for client in _client(app):
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert (await client.get(path)).status_code == 404, path
    enabled = production.model_copy(update={"docs_enabled": True})
    app = create_app(enabled, configure_logs=False)
    async for client in _client(app):
        assert (await client.get("/docs")).status_code == 200
        assert "/readyz" in (await client.get("/openapi.json")).json()["paths"]


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
    # What the resident can act on, never the ledger's name for their account.
    assert body["detail"] == "Your balance is not enough for this. Top up, or use a smaller amount."
    assert "account" not in body
    assert not ACCOUNT_KEY.search(refused.text), refused.text


@pytest.mark.parametrize("kind", ["payable", "budget", "unknown", "key"])
async def test_ledger_errors_never_name_an_account(client: httpx.AsyncClient, kind: str) -> None:
    refused = await client.get(f"/_test/ledger/{kind}")
    assert 400 <= refused.status_code < 500, refused.text
    assert not ACCOUNT_KEY.search(refused.text), refused.text
    assert "refund:7" not in refused.text


SECURED_PATHS = (
    "/healthz",
    "/no/such/thing",
    "/_test/insufficient",
    "/",
    "/app/",
    "/app/offline",
    "/app/sw.js",
    "/app/manifest.webmanifest",
    "/merchant",
    "/console",
    "/analytics",
    "/static/css/machipay.css",
    "/static/js/core.js",
    "/api/v1/wallet",
    "/openapi.json",
)


def test_map_tiles_are_allowed_as_images_only() -> None:
    from machipay.security_headers import CONTENT_SECURITY_POLICY, content_security_policy

    def directives(policy: str) -> dict[str, list[str]]:
        return {d.split()[0]: d.split()[1:] for d in policy.split("; ") if d}

    osm = directives(content_security_policy("https://tile.openstreetmap.org/{z}/{x}/{y}.png"))
    assert osm["img-src"] == ["'self'", "data:", "blob:", "https://tile.openstreetmap.org"]
    assert osm["connect-src"] == ["'self'"] and osm["script-src"] == ["'self'"]
    sub = directives(content_security_policy("https://{s}.tiles.example.jp:8443/{z}/{x}/{y}.png"))
    assert sub["img-src"][-1] == "https://*.tiles.example.jp:8443"
    # No tiles, plain http or a host that would smuggle a directive: the policy as it is.
    for url in ("", "http://tiles.example/{z}.png", "https://a.example; script-src *"):
        assert content_security_policy(url) == CONTENT_SECURITY_POLICY, url


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in SECURED_PATHS:
        response = await client.get(path)
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ") if d}
        assert directives.get("frame-ancestors") == ["'none'"], (path, policy)
        assert directives.get("script-src") == ["'self'"], (path, policy)
        assert directives.get("style-src") == ["'self'"], (path, policy)
        assert directives.get("object-src") == ["'none'"], (path, policy)
        assert directives.get("base-uri") == ["'none'"], (path, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (path, policy)
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "no-referrer", path
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("permissions-policy", "").startswith("camera=(self)"), path
        assert "strict-transport-security" not in headers, path  # plain http: no HSTS
    metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.headers["x-content-type-options"] == "nosniff"


async def test_hsts_is_sent_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://machipay.test") as client,
    ):
        for path in ("/healthz", "/app/", "/no/such/thing"):
            hsts = (await client.get(path)).headers.get("strict-transport-security", "")
            assert hsts.startswith("max-age=31536000"), (path, hsts)


async def test_the_docs_page_keeps_framing_and_scripts_pinned(client: httpx.AsyncClient) -> None:
    # Swagger UI has one inline script and comes from a CDN: its own, narrower allowance.
    docs = await client.get("/docs")
    policy = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert "'unsafe-inline'" not in script_src
    assert "'sha256-" in script_src
    assert len(docs.headers.get_list("content-security-policy")) == 1


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made.headers["X-Request-ID"]) == 32


async def test_app_refuses_an_unmigrated_database() -> None:
    empty = await create_scratch_postgres("machipay_empty")
    try:
        app = create_app(_settings(empty, None), configure_logs=False)
        with pytest.raises(DatabaseNotMigrated, match="machipay migrate"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await drop_scratch_postgres(empty)


async def test_app_refuses_a_database_without_its_money_triggers() -> None:
    url = await create_scratch_postgres("machipay_unguarded")
    try:
        engine = await migrated_engine(url)
        async with engine.begin() as conn:
            await conn.execute(
                text("ALTER TABLE ledger_postings DISABLE TRIGGER ledger_postings_balanced")
            )
        await engine.dispose()
        app = create_app(_settings(url, None), configure_logs=False)
        with pytest.raises(MoneyTriggersMissing, match="ledger_postings_balanced"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await drop_scratch_postgres(url)


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
