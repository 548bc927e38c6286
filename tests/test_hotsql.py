"""The payment path's prebuilt statements: same transaction, same errors, on both databases."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from machipay.db import create_engine, make_sessionmaker, table_of
from machipay.hotsql import HotStatement
from machipay.idempotency import IdempotencyRecord
from machipay.outbox import OutboxEvent
from machipay.settings import Settings
from machipay.timeutil import utcnow

_outbox = table_of(OutboxEvent)
_INSERT = HotStatement(
    insert(_outbox).returning(_outbox.c.id), columns=("topic", "payload", "created_at")
)
# ``id > 0`` is a literal: SQLAlchemy binds it, and the prebuilt form must bind it too.
_FIND = HotStatement(
    select(_outbox.c.id, _outbox.c.payload)
    .where(_outbox.c.topic == bindparam("topic"), _outbox.c.id > 0)
    .order_by(_outbox.c.id)
)
_CLAIM = HotStatement(
    insert(table_of(IdempotencyRecord)),
    columns=("scope", "key", "request_hash", "created_at"),
)


async def _count(sessionmaker: async_sessionmaker[AsyncSession], topic: str) -> int:
    async with sessionmaker() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(_outbox).where(_outbox.c.topic == topic)
                )
            ).scalar_one()
        )


async def test_first_statement_of_a_session_is_inside_its_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    topic = "t" + uuid.uuid4().hex[:20]
    row = {"topic": topic, "payload": "{}", "created_at": utcnow()}
    async with sessionmaker() as session:
        # Nothing ran through SQLAlchemy yet: the statement must open the transaction itself.
        await _INSERT.value(session, row)
        await session.rollback()
    assert await _count(sessionmaker, topic) == 0

    async with sessionmaker() as session:
        new_id = await _INSERT.value(session, row)
        await _INSERT.run_many(session, [row, row])
        found = await _FIND.rows(session, {"topic": topic})
        assert found[0][0] == new_id
        await session.commit()
    assert await _count(sessionmaker, topic) == 3


async def test_statements_mix_with_the_session_in_one_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    topic = "m" + uuid.uuid4().hex[:20]
    async with sessionmaker() as session:
        await session.execute(
            insert(_outbox).values(topic=topic, payload="{}", created_at=utcnow())
        )
        # The prebuilt statement sees the session's uncommitted row, and vice versa.
        assert len(await _FIND.rows(session, {"topic": topic})) == 1
        await _INSERT.value(session, {"topic": topic, "payload": "{}", "created_at": utcnow()})
        assert await _FIND.row(session, {"topic": topic + "-none"}) is None
        await session.rollback()
    assert await _count(sessionmaker, topic) == 0


async def test_driver_errors_arrive_as_sqlalchemy_errors(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    row = {"scope": "hotsql", "key": uuid.uuid4().hex, "request_hash": "x", "created_at": utcnow()}
    async with sessionmaker() as session:
        await _CLAIM.run_many(session, [row])
        with pytest.raises(IntegrityError) as raised:
            await _CLAIM.run_many(session, [row])
        await session.rollback()
    assert getattr(raised.value.orig, "sqlstate", None) == "23505"


async def test_a_missing_parameter_is_an_error_not_a_null(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        with pytest.raises((KeyError, StatementError)):
            await _FIND.rows(session, {})


async def test_rows_the_session_holds_are_written_first(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    topic = "f" + uuid.uuid4().hex[:20]
    async with sessionmaker() as session:
        # Pending in the session, not yet flushed: the statement must still see it.
        session.add(OutboxEvent(topic=topic, payload="{}", created_at=utcnow()))
        assert len(await _FIND.rows(session, {"topic": topic})) == 1
        await session.rollback()


async def test_a_new_transaction_after_commit_is_a_transaction_too(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The driver connection is remembered per transaction; after a commit the session may
    # hold another connection, and its next statement must again open a transaction.
    topic = "c" + uuid.uuid4().hex[:20]
    row = {"topic": topic, "payload": "{}", "created_at": utcnow()}
    async with sessionmaker() as session:
        await _INSERT.value(session, row)
        await session.commit()
        await _INSERT.value(session, row)
        await session.rollback()
        await _INSERT.value(session, row)
        await session.commit()
    assert await _count(sessionmaker, topic) == 2


async def test_a_connection_back_in_the_pool_is_never_used_again(postgres_url: str) -> None:
    # One pooled connection: after the first session commits, a second session takes that
    # connection and opens a transaction on it. The first session's next statement must get
    # a connection of its own, not write into the second session's transaction.
    engine = create_engine(
        Settings(database_url=postgres_url, environment="test", db_pool_size=1, db_max_overflow=1)
    )
    topic = "p" + uuid.uuid4().hex[:20]
    row = {"topic": topic, "payload": "{}", "created_at": utcnow()}
    try:
        first, second = AsyncSession(engine), AsyncSession(engine)
        await _INSERT.value(first, row)
        await first.commit()
        await _INSERT.value(second, row)  # the pool's one connection, in a transaction
        await _INSERT.value(first, row)
        await second.rollback()
        await first.commit()
        await first.close()
        await second.close()
        assert await _count(make_sessionmaker(engine), topic) == 2
    finally:
        await engine.dispose()
