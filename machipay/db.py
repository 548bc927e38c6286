"""Database engine, sessions and the per-request unit of work.

PostgreSQL (asyncpg) in production, a SQLite file (aiosqlite, WAL) as the embedded default.
One metadata object and one Alembic history serve both.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from machipay.errors import MachipayError
from machipay.events import Broker, discard_pending, flush_pending
from machipay.settings import Settings

# Stable constraint names on both databases, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on PostgreSQL; on SQLite, UTC text that comes back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: machipay stores only timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements on hot paths (no unit-of-work cost)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_for(session: AsyncSession, model: type[Base]) -> Any:
    """An INSERT that knows ``ON CONFLICT`` in this session's dialect (PostgreSQL or SQLite:
    both spell upserts the same way, but SQLAlchemy builds them per dialect)."""
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        _ensure_sqlite_directory(url)
        engine = create_async_engine(url, **overrides)
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_pre_ping": False,  # a dead connection fails one request; pre-ping taxes all of them
        "pool_recycle": 1800,
        "connect_args": {
            "server_settings": {
                "application_name": "machipay",
                "lock_timeout": str(settings.db_lock_timeout_ms),
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
                "jit": "off",  # JIT compiles plans for OLTP statements that run in microseconds
                "timezone": "UTC",
            }
        },
    }
    options.update(overrides)
    return create_async_engine(url, **options)


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite has one writer. A deferred BEGIN that later upgrades to a write lock can fail
        # at once with SQLITE_BUSY (the busy handler is skipped to avoid deadlock); taking the
        # write lock up front makes concurrent requests queue on busy_timeout instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextlib.asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker | None = None
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit at the end if nothing raised, else roll back; then publish
    the live events the work queued (only ever after a commit).

    Services never commit; the request (or the CLI command) that owns the session does.
    """
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except MachipayError as exc:
            if exc.keep_changes:
                await session.commit()
            else:
                discard_pending(session)
                await session.rollback()
            raise
        except BaseException:
            discard_pending(session)
            await session.rollback()
            raise
        await flush_pending(session, broker)


async def database_ready(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
