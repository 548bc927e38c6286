"""The ledger's guards in the database: the triggers of ``ledger/sql`` (append-only entries
and postings, balanced entries, hot accounts never overdrawn). A server refuses to start on
a database that lacks one of them (``assembly.app``)."""

from __future__ import annotations

from pathlib import Path

from alembic_utils.pg_trigger import PGTrigger

from machipay.sqlfiles import read_sql_folders

SQL_FOLDER = Path(__file__).resolve().parent / "sql"


def money_triggers() -> list[str]:
    """The names of the ledger's triggers, as its ``.sql`` files state them."""
    return [f.name for f in read_sql_folders([SQL_FOLDER]) if isinstance(f.entity, PGTrigger)]
