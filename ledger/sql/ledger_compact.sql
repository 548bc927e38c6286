-- Fold a hot account's postings into its balance and write a checkpoint. The exclusive
-- advisory lock waits for every transaction that is posting to the account, so no posting
-- at or below the new checkpoint can still be in flight when it is written.
CREATE OR REPLACE FUNCTION public.ledger_compact(p_account bigint) RETURNS bigint LANGUAGE plpgsql AS $$
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
