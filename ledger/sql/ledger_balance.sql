-- An account's balance by its code (NULL: no such account), hot or not: for a caller that
-- only needs to know whether a posting would pass, without posting it (the payment group
-- commit checks each payer's money before it puts the payment in a batch).
CREATE OR REPLACE FUNCTION public.ledger_balance(p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
    v_hot boolean;
    v_balance bigint;
BEGIN
    SELECT a.id, a.hot, a.balance INTO v_id, v_hot, v_balance
      FROM ledger_accounts a WHERE a.code = p_code;
    IF v_id IS NOT NULL AND v_hot THEN
        RETURN ledger_hot_balance(v_id);
    END IF;
    RETURN v_balance;
END $$;
