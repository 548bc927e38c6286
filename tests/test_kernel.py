"""Settings, time handling and the cache / rate-limit backends."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from machipay.cache import CacheBackend, MemoryCache, RateLimit, RedisCache
from machipay.db import UTCDateTime
from machipay.errors import RateLimited
from machipay.settings import Settings
from machipay.timeutil import to_tokyo
from tests.conftest import ManualClock

SECRETS = (
    "MACHIPAY_SECRET_KEY",
    "MACHIPAY_FUNDING_WEBHOOK_SECRET",
    "MACHIPAY_ANALYTICS_PSEUDONYM_SECRET",
)


def test_database_urls_are_mapped_to_the_async_drivers() -> None:
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    assert (
        Settings(database_url="postgresql://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    )
    # Unset means the embedded server, which the CLI starts and names.
    assert Settings().database_url is None
    with pytest.raises(RuntimeError, match="embedded PostgreSQL"):
        Settings().database  # noqa: B018


@pytest.mark.parametrize("url", ["sqlite:///x.db", "sqlite+aiosqlite:///var/machipay.db"])
def test_a_sqlite_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SQLite is no longer supported"):
        Settings(database_url=url)


def test_settings_come_from_machipay_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MACHIPAY_MAX_AMOUNT", "5000")
    monkeypatch.setenv("MACHIPAY_REDIS_URL", "redis://127.0.0.1:6379/3")
    settings = Settings()
    assert settings.max_amount == 5000
    assert settings.redis_url == "redis://127.0.0.1:6379/3"


def production(**changes: str) -> Settings:
    """Production settings with real secrets, then ``changes``."""
    strong = Settings(
        environment="production",
        secret_key="s" * 40,
        funding_webhook_secret="w" * 40,
        analytics_pseudonym_secret="p" * 40,
        sms_backend="http",
        sms_gateway_url="https://sms-gateway.example/v1/messages",
        sms_api_key="g" * 32,
    )
    return strong.model_copy(update=changes)


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(RuntimeError, match="MACHIPAY_SECRET_KEY"):
        Settings(environment="production").refuse_unsafe_secrets()
    with pytest.raises(RuntimeError, match="MACHIPAY_ANALYTICS_PSEUDONYM_SECRET"):
        Settings(
            environment="production", secret_key="s" * 40, funding_webhook_secret="w" * 40
        ).refuse_unsafe_secrets()
    production().refuse_unsafe_secrets()


def test_an_unset_environment_refuses_development_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ENVIRONMENT", "SECRET_KEY", "FUNDING_WEBHOOK_SECRET"):
        monkeypatch.delenv(f"MACHIPAY_{name}", raising=False)
    monkeypatch.delenv("MACHIPAY_ANALYTICS_PSEUDONYM_SECRET", raising=False)
    settings = Settings(_env_file=None)
    with pytest.raises(RuntimeError) as refused:
        settings.refuse_unsafe_secrets()
    for name in SECRETS:
        assert name in str(refused.value)
    # Only an explicit development (or the suite's test) environment runs on them.
    monkeypatch.setenv("MACHIPAY_ENVIRONMENT", "development")
    Settings(_env_file=None).refuse_unsafe_secrets()


def test_a_short_metrics_token_is_refused_in_production() -> None:
    with pytest.raises(RuntimeError, match="MACHIPAY_METRICS_TOKEN"):
        production(metrics_token="short").refuse_unsafe_secrets()
    production(metrics_token="m" * 40).refuse_unsafe_secrets()


def test_times_are_utc_in_storage_and_tokyo_on_display() -> None:
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 11, 23, 9, 0), dialect=_postgresql())  # noqa: DTZ001
    stored = column.process_result_value(datetime(2026, 11, 23, 15, 0), dialect=_postgresql())  # noqa: DTZ001
    assert stored is not None
    shown = to_tokyo(stored)
    assert (shown.day, shown.hour) == (24, 0)
    assert shown.utcoffset() == timedelta(hours=9)


def _postgresql() -> Dialect:
    return postgresql.dialect()  # type: ignore[no-untyped-call]


@pytest.fixture(params=["memory", "redis"])
def cache_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def cache(cache_url: str | None) -> AsyncIterator[CacheBackend]:
    backend: CacheBackend = RedisCache(cache_url) if cache_url else MemoryCache()
    yield backend
    await backend.close()


async def test_cache_get_set_and_delete(cache: CacheBackend) -> None:
    await cache.set("k", "v", ttl_seconds=1)
    assert await cache.get("k") == "v"
    await cache.delete("k")
    assert await cache.get("k") is None


async def test_the_memory_cache_expires_keys_on_the_product_clock(clock: ManualClock) -> None:
    cache = MemoryCache()
    await cache.set("short", "v", ttl_seconds=1)
    clock.advance(0.9)
    assert await cache.get("short") == "v"
    clock.advance(0.1)
    assert await cache.get("short") is None


async def test_redis_keys_get_their_ttl(redis_url: str) -> None:
    # Redis counts its TTLs in real time: check the TTL is set rather than wait it out.
    cache, peek = RedisCache(redis_url), Redis.from_url(redis_url)
    try:
        await cache.set("short", "v", ttl_seconds=60)
        await cache.set("kept", "v")
        assert 0 < await peek.pttl("short") <= 60_000
        assert await peek.pttl("kept") == -1  # no TTL
    finally:
        await cache.close()
        await peek.aclose()


async def test_set_if_absent_is_first_writer_wins(cache: CacheBackend) -> None:
    results = await asyncio.gather(*(cache.set_if_absent("once", str(i), 30) for i in range(20)))
    assert results.count(True) == 1


async def test_rate_limit_refuses_beyond_the_limit(cache: CacheBackend) -> None:
    limit = RateLimit("login", limit=3, window_seconds=60)
    for _ in range(3):
        await limit.hit(cache, "1.2.3.4")
    with pytest.raises(RateLimited) as refused:
        await limit.hit(cache, "1.2.3.4")
    assert 0 < refused.value.extra["retry_after"] <= 60
    await limit.hit(cache, "5.6.7.8")  # other subjects are unaffected


async def test_ping(cache: CacheBackend) -> None:
    assert await cache.ping()
    dead = RedisCache("redis://127.0.0.1:1/0")
    assert not await dead.ping()
    await dead.close()


def test_an_api_process_loads_neither_polars_nor_opendp_until_a_dp_query() -> None:
    # Every API process takes payments; OpenDP and Polars (~100 MB) are for DP answers only.
    probe = (
        "import sys, assembly.app, assembly.cli, payments, campaigns; "
        "print(sorted(m for m in ('polars', 'opendp') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
