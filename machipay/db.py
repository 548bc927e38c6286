"""Database engine, sessions and the per-request unit of work.

PostgreSQL through asyncpg, the only database: a server of the deployment's own, or the
embedded one (``machipay.embedded_db``) for the demo and a newcomer's tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, Table, text
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

# Stable constraint names, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every surrogate key is a bigint: a ward's payments outgrow int4 within years.
BigId = BigInteger()


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` that refuses naive datetimes and always comes back in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: machipay stores only timezone-aware UTC times")
        return value.astimezone(UTC)

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


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    url = settings.database
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
