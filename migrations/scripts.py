"""Helpers shared by migration scripts."""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def run_postgres_script(sql: str) -> None:
    """Run a multi-statement SQL script (functions, triggers) on PostgreSQL.

    asyncpg prepares every statement it is given, and a prepared statement holds one
    command; its plain ``execute`` uses the simple-query protocol, which takes many.
    """
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))
