"""Ledger core: accounts, entries, postings, checkpoints, sealed blocks.

With the database-side guards (append-only triggers, the deferred balanced-entry
constraint trigger, the hot-account overdraft guard) and the posting function that makes
a transfer one round trip.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from migrations.scripts import run_postgres_script

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

POSTGRES_UP = r"""
-- Every error the ledger raises on purpose has its own SQLSTATE (class ML), mapped in
-- ledger/_errors_map.py:
--   ML001 insufficient funds     ML002 idempotency key reused with other content
--   ML003 unknown account        ML010 append-only table changed
--   ML011 unbalanced entry
CREATE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'ML010',
        MESSAGE = format('%s is append-only: correct a mistake with a reversing entry', TG_TABLE_NAME);
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_blocks_append_only BEFORE UPDATE OR DELETE ON ledger_blocks
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();

-- Checked at COMMIT, whoever wrote the rows (our code or a raw INSERT): an entry has
-- at least two postings and they sum to zero. Fired for new entries and for postings
-- added to an existing entry.
CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_sum numeric;
    v_count bigint;
BEGIN
    IF TG_TABLE_NAME = 'ledger_entries' THEN
        v_entry := NEW.id;
    ELSE
        v_entry := NEW.entry_id;
    END IF;
    SELECT coalesce(sum(amount), 0), count(*) INTO v_sum, v_count
      FROM ledger_postings WHERE entry_id = v_entry;
    IF v_sum <> 0 OR v_count < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'ML011',
            MESSAGE = format('ledger entry %s is unbalanced: %s postings summing to %s',
                             v_entry, v_count, v_sum);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();

-- The live balance of a hot account: its checkpoint plus the postings since.
CREATE FUNCTION ledger_hot_balance(p_account bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT a.balance + coalesce((
        SELECT sum(CASE WHEN a.normal_side = 'debit' THEN p.amount ELSE -p.amount END)
          FROM ledger_postings p
         WHERE p.account_id = a.id AND p.id > a.checkpoint_posting_id), 0)::bigint
      FROM ledger_accounts a WHERE a.id = p_account
$$;

-- A hot account's postings carry no balance, so the CHECK on ledger_accounts cannot see
-- an overdraft made by a posting that lowers it; this deferred guard can.
CREATE FUNCTION ledger_check_hot_not_negative() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
    v_balance bigint;
BEGIN
    SELECT id, code, normal_side, non_negative INTO a FROM ledger_accounts WHERE id = NEW.account_id;
    IF NOT a.non_negative THEN
        RETURN NULL;
    END IF;
    -- Postings that raise the balance cannot overdraw it; skip the sum for them.
    IF (a.normal_side = 'debit' AND NEW.amount > 0) OR (a.normal_side = 'credit' AND NEW.amount < 0) THEN
        RETURN NULL;
    END IF;
    v_balance := ledger_hot_balance(a.id);
    IF v_balance < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'ML001',
            MESSAGE = format('insufficient funds in %s', a.code), DETAIL = a.code;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_postings_hot_not_negative AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.balance_after IS NULL)
    EXECUTE FUNCTION ledger_check_hot_not_negative();

-- Post one entry in one round trip. Legs are applied in account-id order, so two
-- transfers in opposite directions take their row locks in the same order and cannot
-- deadlock. Hot accounts: a posting that raises the balance takes only a shared
-- advisory lock (no row lock, so concurrent payments to one shop never queue); one that
-- lowers it takes the exclusive one, which waits for in-flight raises and sees them all.
CREATE FUNCTION ledger_post(
    p_key text, p_kind text, p_memo text, p_reverses bigint, p_fingerprint text,
    p_hash text, p_created_at timestamptz, p_codes text[], p_amounts bigint[]
) RETURNS TABLE (entry_id bigint, created boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_existing text;
    v_delta bigint;
    v_balance bigint;
    v_version bigint;
    r record;
BEGIN
    -- Take the transaction id before the entry id: the block sealer relies on every
    -- entry id having been allocated by a transaction that snapshots already show.
    PERFORM pg_current_xact_id();

    INSERT INTO ledger_entries AS e
           (idempotency_key, kind, memo, reverses_entry_id, fingerprint, content_hash, created_at)
    VALUES (p_key, p_kind, p_memo, p_reverses, p_fingerprint, p_hash, p_created_at)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING e.id INTO v_entry;

    IF v_entry IS NULL THEN
        SELECT e.id, e.fingerprint INTO v_entry, v_existing FROM ledger_entries e
         WHERE e.idempotency_key = p_key;
        IF v_existing IS DISTINCT FROM p_fingerprint THEN
            RAISE EXCEPTION USING ERRCODE = 'ML002',
                MESSAGE = 'idempotency key reused with different content', DETAIL = p_key;
        END IF;
        entry_id := v_entry;
        created := false;
        RETURN NEXT;
        RETURN;
    END IF;

    FOR r IN
        SELECT l.code, l.amount, l.ord, a.id, a.normal_side, a.non_negative, a.hot
          FROM unnest(p_codes, p_amounts) WITH ORDINALITY AS l(code, amount, ord)
          LEFT JOIN ledger_accounts a ON a.code = l.code
         ORDER BY a.id NULLS FIRST, l.ord
    LOOP
        IF r.id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'ML003',
                MESSAGE = format('unknown account %s', r.code), DETAIL = r.code;
        END IF;
        v_delta := CASE WHEN r.normal_side = 'debit' THEN r.amount ELSE -r.amount END;
        IF r.hot THEN
            IF v_delta > 0 THEN
                PERFORM pg_advisory_xact_lock_shared(r.id);
            ELSE
                PERFORM pg_advisory_xact_lock(r.id);
                IF r.non_negative AND ledger_hot_balance(r.id) + v_delta < 0 THEN
                    RAISE EXCEPTION USING ERRCODE = 'ML001',
                        MESSAGE = format('insufficient funds in %s', r.code), DETAIL = r.code;
                END IF;
            END IF;
            INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, account_version, created_at)
            VALUES (v_entry, r.id, r.amount, NULL, NULL, clock_timestamp());
        ELSE
            UPDATE ledger_accounts
               SET balance = balance + v_delta, version = version + 1
             WHERE id = r.id AND (NOT non_negative OR balance + v_delta >= 0)
            RETURNING balance, version INTO v_balance, v_version;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'ML001',
                    MESSAGE = format('insufficient funds in %s', r.code), DETAIL = r.code;
            END IF;
            INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, account_version, created_at)
            VALUES (v_entry, r.id, r.amount, v_balance, v_version, clock_timestamp());
        END IF;
    END LOOP;

    entry_id := v_entry;
    created := true;
    RETURN NEXT;
END $$;

-- Fold a hot account's postings into its balance. The exclusive advisory lock waits for
-- every transaction that is posting to the account, so no posting at or below the new
-- checkpoint can still be in flight when it is written.
CREATE FUNCTION ledger_compact(p_account bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a record;
    v_through bigint;
    v_sum numeric;
    v_balance bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(p_account);
    SELECT * INTO a FROM ledger_accounts WHERE id = p_account FOR UPDATE;
    IF NOT FOUND OR NOT a.hot THEN
        RETURN NULL;
    END IF;
    SELECT max(id), sum(CASE WHEN a.normal_side = 'debit' THEN amount ELSE -amount END)
      INTO v_through, v_sum
      FROM ledger_postings WHERE account_id = p_account AND id > a.checkpoint_posting_id;
    IF v_through IS NULL THEN
        RETURN a.balance;
    END IF;
    UPDATE ledger_accounts SET balance = balance + v_sum::bigint, checkpoint_posting_id = v_through
     WHERE id = p_account RETURNING balance INTO v_balance;
    INSERT INTO ledger_checkpoints (account_id, balance, through_posting_id, created_at)
    VALUES (p_account, v_balance, v_through, clock_timestamp());
    RETURN v_balance;
END $$;
"""

POSTGRES_DOWN = r"""
DROP FUNCTION IF EXISTS ledger_compact(bigint);
DROP FUNCTION IF EXISTS ledger_post(text, text, text, bigint, text, text, timestamptz, text[], bigint[]);
DROP TRIGGER IF EXISTS ledger_postings_hot_not_negative ON ledger_postings;
DROP FUNCTION IF EXISTS ledger_check_hot_not_negative();
DROP FUNCTION IF EXISTS ledger_hot_balance(bigint);
DROP TRIGGER IF EXISTS ledger_postings_balanced ON ledger_postings;
DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries;
DROP FUNCTION IF EXISTS ledger_check_entry_balanced();
DROP TRIGGER IF EXISTS ledger_blocks_append_only ON ledger_blocks;
DROP TRIGGER IF EXISTS ledger_checkpoints_append_only ON ledger_checkpoints;
DROP TRIGGER IF EXISTS ledger_postings_no_truncate ON ledger_postings;
DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings;
DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON ledger_entries;
DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries;
DROP FUNCTION IF EXISTS ledger_reject_change();
"""


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("normal_side", sa.String(6), nullable=False),
        sa.Column("non_negative", sa.Boolean(), nullable=False),
        sa.Column("hot", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("checkpoint_posting_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
        sa.CheckConstraint(
            "normal_side IN ('debit', 'credit')", name=op.f("ck_ledger_accounts_normal_side")
        ),
        sa.CheckConstraint(
            "NOT non_negative OR balance >= 0", name=op.f("ck_ledger_accounts_non_negative_balance")
        ),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("reverses_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_entries_idempotency_key")),
        sa.UniqueConstraint("reverses_entry_id", name=op.f("uq_ledger_entries_reverses_entry_id")),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_entries_reverses_entry_id_ledger_entries"),
        ),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=True),
        sa.Column("account_version", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_postings_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_postings_account_id_ledger_accounts"),
        ),
    )
    op.create_index(op.f("ix_ledger_postings_entry_id"), "ledger_postings", ["entry_id"])
    op.create_index(
        "ix_ledger_postings_account_version",
        "ledger_postings",
        ["account_id", "account_version"],
        unique=True,
    )
    op.create_index("ix_ledger_postings_account_id_id", "ledger_postings", ["account_id", "id"])
    op.create_index(
        "ix_ledger_postings_account_created", "ledger_postings", ["account_id", "created_at"]
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("through_posting_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_checkpoints_account_id_ledger_accounts"),
        ),
    )
    op.create_index(
        "ix_ledger_checkpoints_account_created", "ledger_checkpoints", ["account_id", "created_at"]
    )
    op.create_table(
        "ledger_blocks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("first_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("block_hash", sa.String(64), nullable=False),
        sa.Column("sealed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_blocks")),
        sa.UniqueConstraint("last_entry_id", name=op.f("uq_ledger_blocks_last_entry_id")),
    )

    accounts = sa.table(
        "ledger_accounts",
        sa.column("code", sa.String),
        sa.column("kind", sa.String),
        sa.column("normal_side", sa.String),
        sa.column("non_negative", sa.Boolean),
        sa.column("hot", sa.Boolean),
        sa.column("created_at", TS),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        accounts,
        [
            {
                "code": "bank:settlement",
                "kind": "asset",
                "normal_side": "debit",
                "non_negative": True,
                "hot": True,
                "created_at": now,
            },
            {
                "code": "bank:city",
                "kind": "asset",
                "normal_side": "debit",
                "non_negative": True,
                "hot": False,
                "created_at": now,
            },
            {
                "code": "platform:fees",
                "kind": "income",
                "normal_side": "credit",
                "non_negative": True,
                "hot": False,
                "created_at": now,
            },
        ],
    )

    run_postgres_script(POSTGRES_UP)


def downgrade() -> None:
    run_postgres_script(POSTGRES_DOWN)
    for table in (
        "ledger_blocks",
        "ledger_checkpoints",
        "ledger_postings",
        "ledger_entries",
        "ledger_accounts",
    ):
        op.drop_table(table)
