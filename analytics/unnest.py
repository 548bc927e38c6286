"""Many rows in one statement: ``INSERT … SELECT * FROM unnest(one array per column)``.

The consumer writes a batch's facts and about twenty rollup members per fact. Through the
ORM's bulk insert (``insertmanyvalues``) each batch cost SQLAlchemy a fresh compile per page
of rows and asyncpg a fresh prepare per distinct page size: about half of the analytics
worker's CPU per payment (BENCHMARKS.md, session 15). As one array per column, a batch is one
statement whose text never changes, prepared once per connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class UnnestInsert:
    """The statement, the columns its arrays fill (in order), and whether it answers rows."""

    statement: TextClause
    columns: tuple[str, ...]
    returning: bool

    def params(self, rows: Sequence[Sequence[Any] | Mapping[str, Any]]) -> dict[str, list[Any]]:
        """The rows (tuples in column order, or dicts by column) as one list per column."""
        ordered = [
            [row[name] for name in self.columns] if isinstance(row, Mapping) else row
            for row in rows
        ]
        return {name: [row[i] for row in ordered] for i, name in enumerate(self.columns)}

    async def execute(
        self,
        session: AsyncSession,
        rows: Sequence[Sequence[Any] | Mapping[str, Any]],
        *,
        chunk: int = 5_000,
    ) -> list[Row[Any]]:
        """Insert the rows ``chunk`` at a time (the arrays stay a bounded size); answers
        what the tail's RETURNING returned, if it has one."""
        returned: list[Row[Any]] = []
        for start in range(0, len(rows), chunk):
            result = await session.execute(self.statement, self.params(rows[start : start + chunk]))
            if self.returning:
                returned += result.all()
        return returned


def unnest_insert(table: Table, columns: Sequence[str], tail: str = "") -> UnnestInsert:
    """``INSERT INTO table (columns) SELECT * FROM unnest(:column, …) tail``, each array
    cast to its column's type (so a list of None is typed too)."""
    casts = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=_DIALECT)}[])" for name in columns
    )
    statement = text(
        f"INSERT INTO {table.name} AS t ({', '.join(columns)}) SELECT * FROM unnest({casts})"
        + (f" {tail}" if tail else "")
    )
    return UnnestInsert(statement, tuple(columns), returning="RETURNING" in tail.upper())
