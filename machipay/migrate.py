"""Run and check Alembic migrations; the app refuses to start on an unmigrated database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


class DatabaseNotMigrated(RuntimeError):
    pass


class MoneyTriggersMissing(DatabaseNotMigrated):
    """The database lacks (or has disabled) a trigger that guards the books: a server on it
    could write unbalanced or altered entries, so it must not start."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: call from sync code (the CLI) or through ``asyncio.to_thread``."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except Exception:
            return None


async def assert_migrated(engine: AsyncEngine) -> None:
    current, head = await current_revision(engine), head_revision()
    if current != head:
        state = "has no schema" if current is None else f"is at revision {current}"
        raise DatabaseNotMigrated(
            f"The database {state}, but this version of machipay needs {head}. "
            "Run `machipay migrate` first."
        )


async def assert_money_triggers(engine: AsyncEngine, expected: list[str]) -> None:
    """Refuse a database whose money triggers (append-only entries, balanced entries, hot
    accounts never overdrawn) are missing or disabled."""
    from machipay.sqlfiles import missing_triggers

    async with engine.connect() as conn:
        missing = await missing_triggers(conn, expected)
    if missing:
        raise MoneyTriggersMissing(
            "The database lacks or has disabled the triggers that guard the books: "
            + ", ".join(missing)
            + ". Restore them (`machipay migrate` on a fresh database, or re-enable them) "
            "before serving."
        )
