"""Test fixtures: a scratch PostgreSQL database and a SQLite file per run, both migrated.

PostgreSQL comes from ``MACHIPAY_TEST_DATABASE_URL`` (any database on the server: the run
creates its own ``machipay_test_*`` database beside it and drops it at the end) and Redis
from ``MACHIPAY_TEST_REDIS_URL``. Without them, tests that need them skip locally; under
``CI=true`` a missing service is an error, never a silent skip.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import ledger
from campaigns import verify_campaign_budgets
from machipay.cache import RedisCache
from machipay.db import create_engine, make_sessionmaker
from machipay.migrate import upgrade
from machipay.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("MACHIPAY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MACHIPAY_TEST_REDIS_URL")


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not (PG_URL and REDIS_URL):
        raise pytest.UsageError(
            "CI=true but MACHIPAY_TEST_DATABASE_URL / MACHIPAY_TEST_REDIS_URL are not both set: "
            "the suite must run against PostgreSQL and Redis in CI"
        )


def free_port() -> int:
    """A port on loopback for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until_serving(
    client: httpx.AsyncClient, process: subprocess.Popen[str], seconds: float
) -> httpx.Response:
    """The first answer of ``/readyz`` from a server a test started as a child process."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await client.get("/readyz")
        except httpx.TransportError:
            assert process.poll() is None, "the server exited early"
            assert time.monotonic() < deadline, f"the server did not start within {seconds} s"
            await asyncio.sleep(0.2)


def require_postgres() -> str:
    if not PG_URL:
        pytest.skip("MACHIPAY_TEST_DATABASE_URL not set (PostgreSQL tests run in CI)")
    return PG_URL


def require_redis() -> str:
    if not REDIS_URL:
        pytest.skip("MACHIPAY_TEST_REDIS_URL not set (Redis tests run in CI)")
    return REDIS_URL


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def create_scratch_postgres(prefix: str = "machipay_test") -> str:
    """Create an empty database on the test server; returns its asyncpg SQLAlchemy URL."""
    assert PG_URL
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return (
        make_url(PG_URL)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


async def drop_scratch_postgres(url: str) -> None:
    assert PG_URL
    name = make_url(url).database
    admin = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def migrated_engine(url: str, **overrides: object) -> AsyncEngine:
    await asyncio.to_thread(upgrade, url)
    return create_engine(Settings(database_url=url, environment="test"), **overrides)


@pytest.fixture(scope="session")
def tmp_sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sqlite")


@pytest.fixture(scope="session")
async def sqlite_url(tmp_sqlite_dir: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_sqlite_dir / 'machipay-test.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


async def assert_books_verify(engine: AsyncEngine) -> None:
    """After every scenario of the run: the run's database must still prove its books and
    reconcile (assets = liabilities + income; the trust account covers residents' money)."""
    async with make_sessionmaker(engine)() as session:
        report = await ledger.verify_ledger(session)
        report.findings.extend(await verify_campaign_budgets(session))
        books = await ledger.reconcile(session)
    assert report.ok, [str(f) for f in report.findings[:20]]
    assert books.ok, books.problems


@pytest.fixture(scope="session")
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=sqlite_url, environment="test"))
    yield engine
    await assert_books_verify(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    require_postgres()
    url = await create_scratch_postgres()
    await asyncio.to_thread(upgrade, url)
    yield url
    await drop_scratch_postgres(url)


@pytest.fixture(scope="session")
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        Settings(database_url=postgres_url, environment="test"), pool_size=60, max_overflow=20
    )
    yield engine
    await assert_books_verify(engine)
    await engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine:
    """The ledger suite runs on both databases."""
    value = request.getfixturevalue("sqlite_engine" if backend == "sqlite" else "postgres_engine")
    assert isinstance(value, AsyncEngine)
    return value


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture(scope="session")
def database_url_for(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url"))


@pytest.fixture
async def redis_url() -> str:
    """Redis on a dedicated db number, flushed before each test that uses it."""
    url = require_redis()
    cache = RedisCache(url)
    try:
        await cache.flush()
    finally:
        await cache.close()
    return url


@pytest.fixture
def unique() -> Iterator[str]:
    """A short unique token for account ids and idempotency keys, so tests never collide."""
    yield uuid.uuid4().hex[:12]
