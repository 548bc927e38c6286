-- A resident's history lines for one entry, in one INSERT: given newest first, written in
-- that order (ids ascending), each with the entry's id.
CREATE OR REPLACE FUNCTION public.wallet_write_history(
    p_resident bigint, p_entry bigint, p_at timestamptz,
    p_references text[], p_kinds text[], p_amounts bigint[], p_money bigint[],
    p_points bigint[], p_counterparties text[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallet_transactions (resident_id, reference, kind, amount, money_change,
                                     points_change, counterparty, message, entry_id, created_at)
    SELECT p_resident, h.reference, h.kind, h.amount, h.money, h.points, h.counterparty, NULL,
           p_entry, p_at
      FROM unnest(p_references, p_kinds, p_amounts, p_money, p_points, p_counterparties)
           WITH ORDINALITY AS h(reference, kind, amount, money, points, counterparty, ord)
     ORDER BY h.ord;
END $$;
