"""Every test that used the run's database leaves it as the migrations left it.

Right after migrating, :meth:`SeedSnapshot.take` copies the rows the migrations seeded (the
system ledger accounts, the ward's reference data) into the schema ``test_seed`` and notes
where every sequence stood. :meth:`SeedSnapshot.restore` then brings the database back in one
round trip: empty every application table, copy the seeded rows back, set the sequences
back. Ids therefore start where a fresh install starts them, in every test.

Tables are emptied with DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE's new
files for ~40 tables and their indexes cost 0.75 s a test on the shared host against 12 ms
for DELETE (measured on the just-migrated schema). The ledger's triggers refuse DELETE (the
books are append-only): restoring runs with ``session_replication_role = replica``, the
switch PostgreSQL documents for skipping ordinary triggers (the foreign-key checks too, so
the order of tables does not matter); it needs a superuser, which the test server's role is.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

SEED_SCHEMA = "test_seed"
# Not data: alembic's record of the schema's revision stays as migrated.
KEPT_TABLES = frozenset({"alembic_version"})


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class SeedSnapshot:
    restore_sql: str

    @classmethod
    async def take(cls, connection: asyncpg.Connection) -> SeedSnapshot:
        """Copy the just-migrated database's rows aside; returns what restores them."""
        tables = [
            str(row["relname"])
            for row in await connection.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                " AND NOT c.relispartition ORDER BY c.relname"
            )
            if row["relname"] not in KEPT_TABLES
        ]
        await connection.execute(
            f"DROP SCHEMA IF EXISTS {SEED_SCHEMA} CASCADE; CREATE SCHEMA {SEED_SCHEMA}"
        )
        copies = []
        for table in tables:
            target = f"public.{_quoted(table)}"
            if await connection.fetchval(f"SELECT NOT EXISTS (SELECT FROM {target})"):
                continue
            # Generated columns are computed again on insert; they cannot be written.
            columns = ", ".join(
                _quoted(str(row["attname"]))
                for row in await connection.fetch(
                    "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass"
                    " AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
                    " ORDER BY attnum",
                    target,
                )
            )
            await connection.execute(
                f"CREATE TABLE {SEED_SCHEMA}.{_quoted(table)} AS SELECT {columns} FROM {target}"
            )
            copies.append(
                f"INSERT INTO {target} ({columns}) OVERRIDING SYSTEM VALUE"
                f" SELECT {columns} FROM {SEED_SCHEMA}.{_quoted(table)};"
            )
        sequences = [
            str(row[0])
            for row in await connection.fetch(
                "SELECT format('SELECT setval(%L, %s, %L);', format('public.%I', sequencename),"
                " coalesce(last_value, start_value), last_value IS NOT NULL)"
                " FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename"
            )
        ]
        restore = [
            "BEGIN;",
            "SET LOCAL session_replication_role = replica;",
            # A test that left a transaction open holding rows would make this wait for ever.
            "SET LOCAL lock_timeout = '10s';",
            *(f"DELETE FROM public.{_quoted(t)};" for t in tables),
            *copies,
            *sequences,
            "COMMIT;",
        ]
        return cls("\n".join(restore))

    async def restore(self, connection: asyncpg.Connection) -> None:
        # No arguments: asyncpg sends the whole script as one simple query, one round trip.
        await connection.execute(self.restore_sql)
