"""SQL functions and triggers, one per ``.sql`` file in the ``sql/`` folder of the context
that owns them, read as alembic_utils entities.

A file holds a header comment (why the function or trigger exists), then one statement,
the object's current text: ``CREATE OR REPLACE FUNCTION public.name(...)`` or
``CREATE [CONSTRAINT] TRIGGER name ...``; the file is named after the object. Migrations
carry their own copy of the text (a migration is frozen history); these files are what
``alembic revision --autogenerate`` compares the database with, and what the drift test
holds the migrated database to. Imports no context: folders are given by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_FUNCTION = re.compile(r"CREATE\s+OR\s+REPLACE\s+FUNCTION\s", re.IGNORECASE)
_TRIGGER = re.compile(r"CREATE\s+(CONSTRAINT\s+)?TRIGGER\s", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SqlFile:
    """One function or trigger as its file states it."""

    path: Path
    statement: str  # the CREATE statement, without the header comment
    entity: PGFunction | PGTrigger

    @property
    def name(self) -> str:
        """The function's or trigger's name (a function's without its arguments)."""
        return self.entity.signature.split("(", 1)[0].strip()


def _statement(sql: str) -> str:
    """The statement after the header comment (leading ``--`` lines and blank lines)."""
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


def read_sql_file(path: Path) -> SqlFile:
    statement = _statement(path.read_text(encoding="utf-8"))
    entity: PGFunction | PGTrigger
    if _FUNCTION.match(statement):
        # alembic_utils finds the function's schema by its qualified name.
        entity = PGFunction.from_sql(statement)
    elif _TRIGGER.match(statement):
        entity = PGTrigger.from_sql(statement)
    else:
        raise ValueError(
            f"{path}: expected CREATE OR REPLACE FUNCTION or CREATE [CONSTRAINT] TRIGGER"
            " after the header comment"
        )
    found = SqlFile(path=path, statement=statement, entity=entity)
    if found.name != path.stem:
        raise ValueError(f"{path}: holds {found.name!r}; a file is named after its object")
    return found


def read_sql_folders(folders: Iterable[Path]) -> list[SqlFile]:
    """Every ``.sql`` file of the given folders, in path order."""
    return [read_sql_file(path) for folder in folders for path in sorted(folder.glob("*.sql"))]


def sql_entities(folders: Iterable[Path]) -> list[PGFunction | PGTrigger]:
    """The folders' functions and triggers, for ``register_entities`` in ``migrations/env.py``."""
    return [found.entity for found in read_sql_folders(folders)]


_PRESENT_TRIGGERS = text(
    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    " WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'"
    " AND c.relnamespace = 'public'::regnamespace AND t.tgname = ANY(:names)"
)


async def missing_triggers(
    connection: AsyncConnection | AsyncSession, expected: Iterable[str]
) -> list[str]:
    """The triggers among ``expected`` that the database lacks or has disabled, in the order
    given: for a startup check that the money guards (append-only, balanced entries, hot
    accounts not overdrawn) are in place. A disabled trigger guards nothing, so it counts as
    missing. The caller names them, so this module needs to know no context."""
    names = list(expected)
    present = set((await connection.execute(_PRESENT_TRIGGERS, {"names": names})).scalars())
    return [name for name in names if name not in present]
