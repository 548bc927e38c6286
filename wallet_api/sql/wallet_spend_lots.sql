-- Spend points from lots the caller has locked (wallet_lock_lots, same transaction), each by
-- the amount given; the wallet alone writes its lots. One UPDATE for all of them.
CREATE OR REPLACE FUNCTION public.wallet_spend_lots(p_reference text, p_lot_ids bigint[], p_takes bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_spent int;
BEGIN
    UPDATE wallet_points_lots l SET remaining = l.remaining - t.take
      FROM unnest(p_lot_ids, p_takes) AS t(lot_id, take)
     WHERE l.id = t.lot_id AND l.remaining >= t.take;
    GET DIAGNOSTICS v_spent = ROW_COUNT;
    IF v_spent <> cardinality(p_lot_ids) THEN
        -- The lots were locked by wallet_lock_lots in this transaction: cannot happen.
        RAISE EXCEPTION 'payment %: % of % points lots could not be spent',
            p_reference, cardinality(p_lot_ids) - v_spent, cardinality(p_lot_ids);
    END IF;
END $$;
