-- A hot account's postings carry no balance, so the CHECK on ledger_accounts cannot see an
-- overdraft made by a posting that lowers it; this deferred guard can (raises ML001).
-- Debits reserved beforehand (a campaign budget's shards) are left to the reservation.
CREATE OR REPLACE FUNCTION public.ledger_check_hot_not_negative() RETURNS trigger LANGUAGE plpgsql AS $$
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
