"""The SQL functions and triggers in the contexts' ``sql/`` files are exactly what the
migrated database has installed, and the database has none without a file: the two cannot
drift apart (a file changed without a migration, or a migration without its file).

Each file's statement is run inside a rolled-back savepoint of the migrated database; if
PostgreSQL then shows anything different from before (``pg_get_functiondef``,
``pg_get_triggerdef``), the file and the database disagree. Both sides are PostgreSQL's own
rendering, so nothing needs normalising: a function's body is kept as written, to the byte.
"""

from __future__ import annotations

import difflib

import pytest
from alembic_utils.pg_trigger import PGTrigger
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from machipay.sqlfiles import SqlFile, missing_triggers, read_sql_folders
from migrations.owned_sql import owned_sql_folders

FILES = read_sql_folders(owned_sql_folders())

# Functions by name and argument types (a changed signature is a new function), triggers
# by table and name; extensions' functions are not ours.
_INSTALLED = text("""
SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
UNION ALL
SELECT 'trigger ' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace
""")


async def _installed(connection: AsyncConnection) -> dict[str, str]:
    return {key: definition for key, definition in (await connection.execute(_INSTALLED)).all()}


def _object(key: str) -> str:
    """``function ledger_post(text,...)`` -> ``function ledger_post``; a trigger's key as is."""
    return key.split("(", 1)[0]


def _stated(sql_file: SqlFile) -> str:
    """The key of the object a file states, as ``_object`` gives it."""
    if isinstance(sql_file.entity, PGTrigger):
        table = sql_file.entity.on_entity.rsplit(".", 1)[-1]
        return f"trigger {table}.{sql_file.name}"
    return f"function {sql_file.name}"


def _file_id(sql_file: SqlFile) -> str:
    return f"{sql_file.path.parent.parent.name}/sql/{sql_file.path.name}"


def _difference(key: str, installed: str | None, stated: str | None) -> str:
    lines = difflib.unified_diff(
        (installed or "").splitlines(),
        (stated or "").splitlines(),
        f"{key}, as migrated",
        f"{key}, as the file states it",
        lineterm="",
    )
    return "\n".join(lines)


@pytest.mark.parametrize("sql_file", FILES, ids=_file_id)
async def test_file_states_what_the_migrated_database_has(
    postgres_engine: AsyncEngine, sql_file: SqlFile
) -> None:
    async with postgres_engine.connect() as connection:
        installed = await _installed(connection)
        assert _stated(sql_file) in {_object(key) for key in installed}, (
            f"{_file_id(sql_file)} states {_stated(sql_file)}, which no migration installed"
        )
        savepoint = await connection.begin_nested()
        try:
            if isinstance(sql_file.entity, PGTrigger):
                # A constraint trigger cannot be replaced in place.
                await connection.exec_driver_sql(
                    f"DROP TRIGGER {sql_file.name} ON {sql_file.entity.on_entity}"
                )
            await connection.exec_driver_sql(sql_file.statement)
            after = await _installed(connection)
        except DBAPIError as error:
            pytest.fail(f"{_file_id(sql_file)} cannot replace what is installed: {error.orig}")
        finally:
            await savepoint.rollback()
        await connection.rollback()
    changed = sorted(
        key for key in installed.keys() | after.keys() if installed.get(key) != after.get(key)
    )
    assert not changed, f"{_file_id(sql_file)} differs from the migrated database:\n" + "\n".join(
        _difference(key, installed.get(key), after.get(key)) for key in changed
    )


async def test_every_installed_function_and_trigger_has_one_file(
    postgres_engine: AsyncEngine,
) -> None:
    async with postgres_engine.connect() as connection:
        installed = [_object(key) for key in await _installed(connection)]
    stated = [_stated(sql_file) for sql_file in FILES]
    assert sorted({key for key in stated if stated.count(key) > 1}) == [], "stated twice"
    # One file per function name: an overload would be installed without its own file.
    assert sorted({key for key in installed if installed.count(key) > 1}) == [], "overloaded"
    assert sorted(set(installed) - set(stated)) == [], "installed, but no file states it"


async def test_missing_triggers_names_those_absent_or_disabled(
    postgres_engine: AsyncEngine,
) -> None:
    triggers = [f.name for f in FILES if isinstance(f.entity, PGTrigger)]
    async with postgres_engine.connect() as connection:
        assert await missing_triggers(connection, [*triggers, "no_such_trigger"]) == [
            "no_such_trigger"
        ]
        await connection.execute(
            text("ALTER TABLE ledger_blocks DISABLE TRIGGER ledger_blocks_append_only")
        )
        assert await missing_triggers(connection, triggers) == ["ledger_blocks_append_only"]
        await connection.rollback()


async def test_the_server_is_a_supported_postgresql(postgres_engine: AsyncEngine) -> None:
    # CI runs the machine's PostgreSQL 15, a newcomer's `make test` the embedded 18: the
    # functions and migrations are written for 15 through 18 and nothing older or newer.
    async with postgres_engine.connect() as conn:
        version = int(await conn.scalar(text("SHOW server_version_num")) or 0)
    assert 150000 <= version < 190000, version
