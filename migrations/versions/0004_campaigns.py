"""Campaigns: definitions, budget shards, rewards, per-resident tallies, audit trail; and
ledger accounts whose debits are reserved beforehand (campaign budgets, DESIGN.md 3.3).

``ledger_post`` and the hot-account guard learn the new flag: a reserved debit takes the
shared advisory lock like a credit, so a campaign's rewards never queue on its budget
account. Campaign budget accounts opened before this revision (with no postings) become hot
and reserved; any with postings stay as they were, row-locked and correct.

Revision ID: 0004_campaigns
Revises: 0003_merchants_payments
Create Date: 2026-11-23 11:19:02.286717
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.scripts import run_postgres_script

revision = "0004_campaigns"
down_revision = "0003_merchants_payments"
branch_labels = None
depends_on = None


# ledger_post and the hot-account guard learn the new flag. A debit to an account flagged
# debits_reserved was reserved by the account's owner (a campaign budget's shards): like a
# credit, it takes only the shared advisory lock, and the deferred guard leaves it to them.
POSTGRES_UP = r"""
CREATE OR REPLACE FUNCTION ledger_post(
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
        SELECT l.code, l.amount, l.ord, a.id, a.normal_side, a.non_negative, a.hot, a.debits_reserved
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
            IF v_delta > 0 OR r.debits_reserved THEN
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

CREATE OR REPLACE FUNCTION ledger_check_hot_not_negative() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a record;
    v_balance bigint;
BEGIN
    SELECT id, code, normal_side, non_negative, debits_reserved INTO a
      FROM ledger_accounts WHERE id = NEW.account_id;
    IF NOT a.non_negative OR a.debits_reserved THEN
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
"""

# Downgrade: both functions as revision 0001 installed them.
POSTGRES_DOWN = r"""
CREATE OR REPLACE FUNCTION ledger_post(
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

CREATE OR REPLACE FUNCTION ledger_check_hot_not_negative() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""

# Reserve a reward from a campaign's budget shards in one round trip (DESIGN.md 3.3).
CAMPAIGN_RESERVE = r"""
CREATE FUNCTION campaign_reserve(p_campaign bigint, p_amount bigint, p_home int, p_shards int)
RETURNS TABLE (reserved bigint, exhausted boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_shard int;
    v_needed bigint := p_amount;
    v_left bigint := 0;
    v_take bigint;
    v_timeout text;
    r record;
BEGIN
    reserved := 0;
    exhausted := false;
    IF NOT EXISTS (SELECT 1 FROM campaigns WHERE id = p_campaign AND status = 'approved') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- The usual case: the first shard, counting from the payer's own, that has enough and
    -- that no other transaction holds (never waits). In a subtransaction: a row locked and
    -- then found short on recheck is unlocked again when it is rolled back, so no stray
    -- lock is held while the slow path below waits for shards in order.
    BEGIN
        UPDATE campaign_budget_shards s SET remaining = s.remaining - p_amount
          FROM (SELECT c.shard FROM campaign_budget_shards c
                 WHERE c.campaign_id = p_campaign AND c.remaining >= p_amount
                 ORDER BY (c.shard - p_home + p_shards) % p_shards
                 LIMIT 1 FOR UPDATE SKIP LOCKED) pick
         WHERE s.campaign_id = p_campaign AND s.shard = pick.shard AND s.remaining >= p_amount
        RETURNING s.shard INTO v_shard;
        IF FOUND THEN
            reserved := p_amount;
            RETURN NEXT;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'MC001';
    EXCEPTION WHEN SQLSTATE 'MC001' THEN
        NULL;
    END;
    -- Every shard with enough is busy, or what is left is short or in crumbs: lock all the
    -- shards in shard order (so two of us never wait crosswise), then take what is needed,
    -- or all there is. The last yen goes exactly once.
    -- Near the end of a budget these waits queue up one behind the other for a moment;
    -- give them longer than the usual lock_timeout before calling it busy.
    v_timeout := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', '10s', true);
    FOR r IN SELECT c.shard FROM campaign_budget_shards c
              WHERE c.campaign_id = p_campaign ORDER BY c.shard FOR UPDATE LOOP
    END LOOP;
    PERFORM set_config('lock_timeout', v_timeout, true);
    -- Re-read after the wait: the campaign may have been ended meanwhile.
    IF NOT EXISTS (SELECT 1 FROM campaigns WHERE id = p_campaign AND status = 'approved') THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR r IN SELECT c.shard, c.remaining FROM campaign_budget_shards c
              WHERE c.campaign_id = p_campaign ORDER BY c.shard LOOP
        v_take := least(r.remaining, v_needed);
        IF v_take > 0 THEN
            UPDATE campaign_budget_shards SET remaining = remaining - v_take
             WHERE campaign_id = p_campaign AND shard = r.shard;
            v_needed := v_needed - v_take;
        END IF;
        v_left := v_left + r.remaining - v_take;
    END LOOP;
    reserved := p_amount - v_needed;
    exhausted := v_left = 0;
    RETURN NEXT;
END $$;
"""

# A payment's campaign work in one round trip: caps against the resident's tallies, budget
# reservations (in campaign id order), tallies, and the reward rows.
CAMPAIGN_GRANT = r"""
CREATE FUNCTION campaign_grant(
    p_payment text, p_resident bigint, p_merchant bigint, p_street bigint, p_category text,
    p_store_type text, p_district text, p_amount bigint, p_paid_at timestamptz,
    p_month text, p_shards int,
    p_points_campaign bigint, p_points bigint, p_points_deferred boolean,
    p_monthly_cap bigint, p_campaign_cap bigint,
    p_cashback_campaign bigint, p_cashback bigint, p_cashback_deferred boolean
) RETURNS TABLE (points bigint, cashback bigint, exhausted bigint[]) LANGUAGE plpgsql AS $$
DECLARE
    v_capped boolean := p_monthly_cap IS NOT NULL OR p_campaign_cap IS NOT NULL;
    v_month bigint;
    v_total bigint;
    v_id bigint;
    v_want_points bigint;
    v_want_cashback bigint;
    v_got record;
BEGIN
    points := 0;
    cashback := 0;
    exhausted := '{}';
    IF p_points_campaign IS NOT NULL AND p_points > 0 AND v_capped THEN
        -- Safe to read then write: the payment holds the resident's row lock.
        SELECT coalesce(sum(t.amount) FILTER (WHERE t.month = p_month), 0),
               coalesce(sum(t.amount), 0)
          INTO v_month, v_total
          FROM campaign_resident_tallies t
         WHERE t.campaign_id = p_points_campaign AND t.resident_id = p_resident;
        IF p_monthly_cap IS NOT NULL THEN
            p_points := least(p_points, greatest(0, p_monthly_cap - v_month));
        END IF;
        IF p_campaign_cap IS NOT NULL THEN
            p_points := least(p_points, greatest(0, p_campaign_cap - v_total));
        END IF;
    END IF;
    FOR v_id IN SELECT DISTINCT c FROM unnest(ARRAY[p_points_campaign, p_cashback_campaign]) c
                 WHERE c IS NOT NULL ORDER BY c LOOP
        v_want_points := CASE WHEN v_id = p_points_campaign THEN p_points ELSE 0 END;
        v_want_cashback := CASE WHEN v_id = p_cashback_campaign THEN p_cashback ELSE 0 END;
        CONTINUE WHEN v_want_points + v_want_cashback <= 0;
        SELECT * INTO v_got FROM campaign_reserve(
            v_id, v_want_points + v_want_cashback, (p_resident % p_shards)::int, p_shards);
        IF v_got.exhausted THEN
            exhausted := exhausted || v_id;
        END IF;
        -- Short of budget: the resident's points first, the shop's cashback from the rest.
        v_want_points := least(v_want_points, v_got.reserved);
        v_want_cashback := v_got.reserved - v_want_points;
        points := points + v_want_points;
        cashback := cashback + v_want_cashback;
        IF v_want_points > 0 AND v_capped THEN
            INSERT INTO campaign_resident_tallies AS t (campaign_id, resident_id, month, amount)
            VALUES (v_id, p_resident, p_month, v_want_points)
            ON CONFLICT (campaign_id, resident_id, month)
            DO UPDATE SET amount = t.amount + EXCLUDED.amount;
        END IF;
        INSERT INTO campaign_rewards (
            campaign_id, payment_reference, kind, status, resident_id, merchant_id,
            shopping_street_id, category, store_type, district_id, payment_amount, amount,
            revoked, unrecovered, month, paid_at, granted_at)
        SELECT v_id, p_payment, r.kind, CASE WHEN r.deferred THEN 'pending' ELSE 'granted' END,
               p_resident, p_merchant, p_street, p_category, p_store_type, p_district,
               p_amount, r.amount, 0, 0, p_month, p_paid_at,
               CASE WHEN r.deferred THEN NULL ELSE p_paid_at END
          FROM (VALUES ('resident', v_want_points, p_points_deferred),
                       ('merchant', v_want_cashback, p_cashback_deferred)) r(kind, amount, deferred)
         WHERE r.amount > 0;
    END LOOP;
    RETURN NEXT;
END $$;
"""

# Budget accounts opened before this revision and never posted to can simply change kind.
RESERVE_UNUSED_BUDGETS = """
UPDATE ledger_accounts SET hot = true, debits_reserved = true
 WHERE code LIKE :pattern
   AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.account_id = ledger_accounts.id)
"""


def upgrade() -> None:
    op.create_table(
        "campaign_audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_audit")),
    )
    with op.batch_alter_table("campaign_audit", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_audit_campaign", ["campaign_id", "id"], unique=False)

    op.create_table(
        "campaign_budget_shards",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0", name=op.f("ck_campaign_budget_shards_remaining_not_negative")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "shard", name=op.f("pk_campaign_budget_shards")),
    )
    op.create_table(
        "campaign_resident_tallies",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_campaign_resident_tallies_amount_not_negative")
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "resident_id", "month", name=op.f("pk_campaign_resident_tallies")
        ),
    )
    op.create_table(
        "campaign_rewards",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_reference", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("shopping_street_id", sa.BigInteger(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("store_type", sa.String(length=10), nullable=False),
        sa.Column("district_id", sa.String(length=32), nullable=True),
        sa.Column("payment_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.BigInteger(), nullable=False),
        sa.Column("unrecovered", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('resident', 'merchant')", name=op.f("ck_campaign_rewards_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'granted')", name=op.f("ck_campaign_rewards_status")
        ),
        sa.CheckConstraint(
            "amount >= 0 AND revoked >= 0 AND unrecovered >= 0",
            name=op.f("ck_campaign_rewards_amounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_rewards")),
    )
    with op.batch_alter_table("campaign_rewards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_rewards_campaign_status", ["campaign_id", "status", "id"], unique=False
        )
        batch_op.create_index("ix_campaign_rewards_payment", ["payment_reference"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resident_rate_bp", sa.Integer(), nullable=False),
        sa.Column("merchant_rate_bp", sa.Integer(), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("per_payment_cap", sa.BigInteger(), nullable=True),
        sa.Column("per_resident_cap", sa.BigInteger(), nullable=True),
        sa.Column("per_resident_monthly_cap", sa.BigInteger(), nullable=True),
        sa.Column("min_payment", sa.BigInteger(), nullable=False),
        sa.Column("grant_timing", sa.String(length=10), nullable=False),
        sa.Column("points_expiry_days", sa.Integer(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.BigInteger(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=20), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("funding_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("return_entry_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "grant_timing IN ('immediate', 'deferred')", name=op.f("ck_campaigns_grant_timing")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'ended', 'closed')",
            name=op.f("ck_campaigns_status"),
        ),
        sa.CheckConstraint("budget > 0", name=op.f("ck_campaigns_budget_positive")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_campaigns_window")),
        sa.CheckConstraint(
            "merchant_rate_bp BETWEEN 0 AND 10000", name=op.f("ck_campaigns_merchant_rate")
        ),
        sa.CheckConstraint(
            "resident_rate_bp BETWEEN 0 AND 10000", name=op.f("ck_campaigns_resident_rate")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaigns_status_window", ["status", "starts_at", "ends_at"], unique=False
        )

    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("debits_reserved", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(sa.text(RESERVE_UNUSED_BUDGETS).bindparams(pattern="campaign:%:budget"))
    with op.batch_alter_table("wallet_points_lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_reference", sa.String(length=32), nullable=True))
        batch_op.create_index(
            "ix_wallet_points_lots_live",
            ["resident_id", "expires_at", "id"],
            unique=False,
            postgresql_where=sa.text("remaining > 0"),
        )
    run_postgres_script(POSTGRES_UP)
    run_postgres_script(CAMPAIGN_RESERVE)
    run_postgres_script(CAMPAIGN_GRANT)


def downgrade() -> None:
    with op.batch_alter_table("wallet_points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_points_lots_live")
        batch_op.drop_column("source_reference")
    run_postgres_script(POSTGRES_DOWN)
    op.execute("DROP FUNCTION IF EXISTS campaign_grant")
    op.execute("DROP FUNCTION IF EXISTS campaign_reserve(bigint, bigint, int, int)")
    op.execute(
        "UPDATE ledger_accounts SET hot = false WHERE debits_reserved"
        " AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.account_id = ledger_accounts.id)"
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_column("debits_reserved")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_status_window")

    op.drop_table("campaigns")
    with op.batch_alter_table("campaign_rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_rewards_payment")
        batch_op.drop_index("ix_campaign_rewards_campaign_status")

    op.drop_table("campaign_rewards")
    op.drop_table("campaign_resident_tallies")
    op.drop_table("campaign_budget_shards")
    with op.batch_alter_table("campaign_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_audit_campaign")

    op.drop_table("campaign_audit")
