"""An entry posted by ``ledger_post`` is checked once at COMMIT, not once per posting; its
postings are written by one INSERT.

Until now every posting queued two deferred checks of its own (the entry sums to zero; a
hot account is not overdrawn), so an entry of seven postings (a payment under a campaign)
ran eight sums of its entry and four hot-account lookups at COMMIT, and seven INSERTs.
Measured with callgrind on one backend, dropping them saves 6 % of a campaign payment's
instructions on the server (3 % of a plain payment's).

``ledger_post`` now names, in a transaction-local setting, the entry whose postings it is
writing, and the per-posting triggers skip postings of that entry (a constraint
trigger's WHEN is evaluated when the row is written, so nothing is queued for them):

* the entry is still checked at COMMIT by the trigger on ``ledger_entries`` (balanced, at
  least two postings), which fires for every new entry;
* a hot account lowered by ``ledger_post`` was already checked under its exclusive lock;
* a posting written any other way is checked as before: into an entry of an earlier
  transaction by its own triggers, into one of this transaction by that entry's check too
  (the setting is cleared as soon as the INSERT is done, so the skip covers nothing else).

Revision ID: 0012_entry_checked_once
Revises: 0011_payment_round_trips
Create Date: 2026-11-23 22:40:00
"""

from __future__ import annotations

from migrations.scripts import run_postgres_script

revision = "0012_entry_checked_once"
down_revision = "0011_payment_round_trips"
branch_labels = None
depends_on = None

# Each leg is collected in the loop and the postings are written together, in that order.
# This entry's own postings queue no per-posting checks (see the triggers): the entry's
# deferred check covers them, and the hot accounts were checked in the loop. Postings
# written any other way (a raw INSERT, or into an entry of an earlier transaction) are
# checked at COMMIT as before.
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
    v_accounts bigint[] := '{}';
    v_amounts bigint[] := '{}';
    v_balances bigint[] := '{}';
    v_versions bigint[] := '{}';
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
            v_balance := NULL;
            v_version := NULL;
        ELSE
            UPDATE ledger_accounts
               SET balance = balance + v_delta, version = version + 1
             WHERE id = r.id AND (NOT non_negative OR balance + v_delta >= 0)
            RETURNING balance, version INTO v_balance, v_version;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'ML001',
                    MESSAGE = format('insufficient funds in %s', r.code), DETAIL = r.code;
            END IF;
        END IF;
        v_accounts := v_accounts || r.id;
        v_amounts := v_amounts || r.amount;
        v_balances := v_balances || v_balance;
        v_versions := v_versions || v_version;
    END LOOP;

    PERFORM set_config('ledger.posting_entry', v_entry::text, true);
    INSERT INTO ledger_postings
           (entry_id, account_id, amount, balance_after, account_version, created_at)
    SELECT v_entry, p.account_id, p.amount, p.balance_after, p.account_version, clock_timestamp()
      FROM unnest(v_accounts, v_amounts, v_balances, v_versions) WITH ORDINALITY
           AS p(account_id, amount, balance_after, account_version, ord)
     ORDER BY p.ord;
    PERFORM set_config('ledger.posting_entry', '', true);

    entry_id := v_entry;
    created := true;
    RETURN NEXT;
END $$;

DROP TRIGGER ledger_postings_balanced ON ledger_postings;
DROP TRIGGER ledger_postings_hot_not_negative ON ledger_postings;

-- Postings written any other way (a raw INSERT, or into an entry of an earlier
-- transaction) are checked at COMMIT as before. WHEN is evaluated as the row is written.
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.entry_id::text IS DISTINCT FROM current_setting('ledger.posting_entry', true))
    EXECUTE FUNCTION ledger_check_entry_balanced();
CREATE CONSTRAINT TRIGGER ledger_postings_hot_not_negative AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.balance_after IS NULL
          AND NEW.entry_id::text IS DISTINCT FROM current_setting('ledger.posting_entry', true))
    EXECUTE FUNCTION ledger_check_hot_not_negative();
"""

# Downgrade: ledger_post as revision 0004 installed it, and the triggers of revision 0001.
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

DROP TRIGGER ledger_postings_balanced ON ledger_postings;
DROP TRIGGER ledger_postings_hot_not_negative ON ledger_postings;
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
CREATE CONSTRAINT TRIGGER ledger_postings_hot_not_negative AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.balance_after IS NULL)
    EXECUTE FUNCTION ledger_check_hot_not_negative();
"""


def upgrade() -> None:
    run_postgres_script(POSTGRES_UP)


def downgrade() -> None:
    run_postgres_script(POSTGRES_DOWN)
