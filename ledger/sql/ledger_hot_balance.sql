-- The live balance of a hot account (DESIGN.md 3.3): its checkpoint plus the postings
-- since.
CREATE OR REPLACE FUNCTION public.ledger_hot_balance(p_account bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT a.balance + coalesce((
        SELECT sum(CASE WHEN a.normal_side = 'debit' THEN p.amount ELSE -p.amount END)
          FROM ledger_postings p
         WHERE p.account_id = a.id AND p.id > a.checkpoint_posting_id), 0)::bigint
      FROM ledger_accounts a WHERE a.id = p_account
$$;
