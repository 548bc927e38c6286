"""Many rows in one statement: ``INSERT … SELECT * FROM unnest(one array per column)``.

The consumer writes a batch's facts and about twenty rollup members per fact. Through the
ORM's bulk insert (``insertmanyvalues``) each batch cost SQLAlchemy a fresh compile per page
of rows and asyncpg a fresh prepare per distinct page size: about half of the analytics
worker's CPU per payment (BENCHMARKS.md, session 15). As one array per column, a batch is one
statement whose text never changes, prepared once per connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import TextClause

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def unnest_insert(table: Table, columns: Sequence[str], tail: str = "") -> TextClause:
    """``INSERT INTO table (columns) SELECT * FROM unnest(:column, …) tail``, each array
    cast to its column's type (so a list of None is typed too)."""
    casts = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=_DIALECT)}[])" for name in columns
    )
    return text(
        f"INSERT INTO {table.name} AS t ({', '.join(columns)}) SELECT * FROM unnest({casts})"
        + (f" {tail}" if tail else "")
    )


def as_columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The rows as one list per column: the statement's parameters."""
    return {name: [row[name] for row in rows] for name in columns}
