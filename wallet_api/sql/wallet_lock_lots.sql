-- The payer's row lock (one resident's payments run one at a time) and the live points lots
-- it may spend, oldest expiry first, locked too. A resident with no row is an error. A wallet
-- that is not active (frozen or closed by the help desk) pays nothing: MW001, read under the
-- lock, so a freeze that committed after the Python gate (require_wallet_can_move_money) read
-- the wallet still stops the payment. Mapped in payments/service.py.
CREATE OR REPLACE FUNCTION public.wallet_lock_lots(p_resident bigint, p_now timestamptz)
RETURNS TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT r.status INTO v_status FROM residents r WHERE r.user_id = p_resident FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resident % has no row to lock', p_resident;
    END IF;
    IF v_status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'MW001',
            MESSAGE = format('wallet of resident %s is %s: no money leaves it', p_resident, v_status);
    END IF;
    RETURN QUERY
        SELECT l.id, l.remaining FROM wallet_points_lots l
         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now
         ORDER BY l.expires_at, l.id
           FOR UPDATE;
END $$;
