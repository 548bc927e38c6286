-- The payer's row lock (one resident's payments run one at a time) and the live points lots
-- it may spend, oldest expiry first, locked too. A resident with no row is an error.
CREATE OR REPLACE FUNCTION public.wallet_lock_lots(p_resident bigint, p_now timestamptz)
RETURNS TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM residents WHERE user_id = p_resident FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resident % has no row to lock', p_resident;
    END IF;
    RETURN QUERY
        SELECT l.id, l.remaining FROM wallet_points_lots l
         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now
         ORDER BY l.expires_at, l.id
           FOR UPDATE;
END $$;
