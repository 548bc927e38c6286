-- Spend points from lots the caller has locked (wallet_lock_lots, same transaction), each by
-- the amount given; the wallet alone writes its lots.
CREATE OR REPLACE FUNCTION public.wallet_spend_lots(p_reference text, p_lot_ids bigint[], p_takes bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- One primary-key UPDATE per lot (a payment spends one or two): a statement whose
    -- cached generic plan serves every call, where an UPDATE joined to unnest() of the
    -- arrays was planned again on every call (about 0.09 ms a payment, pg_stat_statements).
    FOR i IN 1 .. coalesce(cardinality(p_lot_ids), 0) LOOP
        UPDATE wallet_points_lots SET remaining = remaining - p_takes[i]
         WHERE id = p_lot_ids[i] AND remaining >= p_takes[i];
        IF NOT FOUND THEN
            -- The lots were locked by wallet_lock_lots in this transaction: cannot happen.
            RAISE EXCEPTION 'payment %: points lot % could not be spent (% points)',
                p_reference, p_lot_ids[i], p_takes[i];
        END IF;
    END LOOP;
END $$;
