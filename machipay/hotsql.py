"""Statements on the payment path, run on the session's own asyncpg connection.

Every HTTP payment runs about a dozen statements. Through ``AsyncSession.execute`` each one
costs ~90 µs of Python (the ORM execution path, result objects and a greenlet switch each
way); the same statement sent straight over the session's asyncpg connection costs ~30 µs
(measured in BENCHMARKS.md). So the few statements every payment runs are built once with
SQLAlchemy as usual, compiled once for asyncpg, and sent over the driver connection *inside
the session's transaction*. Same SQL, same transaction, same error types (driver errors are
wrapped the way SQLAlchemy wraps them, so ``ledger``'s SQLSTATE mapping and the app's
handlers still see a ``DBAPIError``).

Only for statements whose parameters are plain values (no ``IN`` lists, no JSON columns):
the caller passes driver-ready values (timezone-aware datetimes, ints, strs, lists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import bindparam, event, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeEngine

# Round trips sent straight to the driver, for benchmarks that count statements per payment
# (SQLAlchemy's own events do not see them).
sent = 0

_DRIVER = "machipay.hotsql.driver"
_ASYNCPG = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


class HotStatement:
    """One prebuilt statement, compiled once for asyncpg."""

    __slots__ = ("fixed", "names", "sql", "statement")

    def __init__(self, statement: Executable, *, columns: Sequence[str] | None = None) -> None:
        # ``columns``: for an INSERT whose values come at execution, the columns it sets.
        self.statement = statement
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(
            dialect=_ASYNCPG, column_keys=list(columns) if columns is not None else None
        )
        assert isinstance(compiled, SQLCompiler)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Literals in the statement (``remaining > 0``) become parameters with their value.
        self.fixed: dict[str, Any] = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and name in self.names
        }

    @classmethod
    def function_call(
        cls, columns: str, function: str, arguments: Mapping[str, TypeEngine[Any]]
    ) -> HotStatement:
        """``SELECT columns FROM function(:a, :b, ...)``, the arguments in the mapping's order,
        each bound with its type."""
        return cls(
            text(
                f"SELECT {columns} FROM {function}({', '.join(':' + name for name in arguments)})"
            ).bindparams(*(bindparam(name, type_=type_) for name, type_ in arguments.items()))
        )

    def _args(self, params: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [params[name] if name in params else fixed[name] for name in self.names]

    async def rows(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The rows it returns (each indexable by position)."""
        driver, adapted = await _driver(session)
        args = self._args(params)
        global sent
        sent += 1
        try:
            return list(await driver.fetch(self.sql, *args))
        except asyncpg.PostgresError as error:
            raise _wrapped(adapted, self.sql, args, error) from error

    async def row(self, session: AsyncSession, params: Mapping[str, Any]) -> Sequence[Any] | None:
        found = await self.rows(session, params)
        return found[0] if found else None

    async def value(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        """The first column of the one row it returns (an error if it returns none)."""
        found = await self.row(session, params)
        if found is None:
            raise LookupError("the statement returned no row")
        return found[0]

    async def run_many(self, session: AsyncSession, params: Iterable[Mapping[str, Any]]) -> None:
        """Run it once per parameter set, in one round trip where the driver can."""
        batch = list(params)
        if not batch:
            return
        driver, adapted = await _driver(session)
        args = [self._args(p) for p in batch]
        global sent
        sent += 1
        try:
            if len(args) == 1:
                await driver.execute(self.sql, *args[0])
            else:
                await driver.executemany(self.sql, args)
        except asyncpg.PostgresError as error:
            raise _wrapped(adapted, self.sql, args, error) from error


async def _driver(session: AsyncSession) -> tuple[asyncpg.Connection, Any]:
    """The asyncpg connection of the session's current transaction, after writing what the
    session holds.

    SQLAlchemy's adapter opens the transaction lazily, at its first statement; a statement
    sent before that would run in autocommit, outside the unit of work. So the transaction is
    started here the way the adapter starts it, and the adapter keeps owning it (commit and
    rollback still go through the session).
    """
    # Like the session's autoflush: rows it holds but has not written yet
    # (a resident registered in this unit of work, a changed payment) are in the database
    # before a statement that reads or references them.
    if session.new or session.deleted or session.dirty:
        await session.flush()
    # Looked up once per transaction (a payment sends several statements); forgotten when
    # the session's transaction ends, as its connection may go back to the pool then.
    known = session.info.get(_DRIVER)
    if known is not None and known[1]._started:
        return known  # type: ignore[no-any-return]
    connection = await session.connection()
    fairy = await connection.get_raw_connection()
    adapted = fairy.dbapi_connection
    if adapted is None:
        raise RuntimeError("the session's connection is closed")
    if not getattr(adapted, "_started", True):
        await adapted._start_transaction()
    driver = fairy.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    session.info[_DRIVER] = (driver, adapted)
    return driver, adapted


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_DRIVER, None)


def _wrapped(adapted: Any, sql: str, args: Any, error: asyncpg.PostgresError) -> DBAPIError:
    """The error SQLAlchemy would have raised for this driver error (the adapter's DB-API
    error, with the driver's as its cause, wrapped in a ``DBAPIError``)."""
    try:
        adapted._handle_exception(error)
        translated: BaseException = error
    except BaseException as raised:  # _handle_exception always raises
        translated = raised
    wrapped = DBAPIError.instance(
        sql, args, translated, adapted.dbapi.Error, connection_invalidated=False
    )
    assert isinstance(wrapped, DBAPIError)
    return wrapped
