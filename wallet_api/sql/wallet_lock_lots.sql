-- The payer's row lock (one resident's payments run one at a time) and the live points lots
-- it may spend, oldest expiry first, locked too. This is the payment path's one gate on the
-- payer, read under the lock (so a freeze that commits while a payment is on its way still
-- stops it, and the payment needs no read of its own before): no resident row or an
-- unverified phone is MW003, a frozen wallet MW001, a closed one MW002. Mapped in
-- wallet_api/errors.py (wallet_lock_refusals) to the same answers as the Python gate
-- (require_wallet_can_move_money) that transfers and one-time codes pass.
CREATE OR REPLACE FUNCTION public.wallet_lock_lots(p_resident bigint, p_now timestamptz)
RETURNS TABLE (lot_id bigint, remaining bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_verified timestamptz;
BEGIN
    SELECT r.status, r.phone_verified_at INTO v_status, v_verified
      FROM residents r WHERE r.user_id = p_resident FOR UPDATE;
    IF NOT FOUND OR v_verified IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'MW003',
            MESSAGE = format('resident %s has no verified phone: no money leaves the wallet', p_resident);
    END IF;
    IF v_status = 'frozen' THEN
        RAISE EXCEPTION USING ERRCODE = 'MW001',
            MESSAGE = format('wallet of resident %s is frozen: no money leaves it', p_resident);
    END IF;
    IF v_status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'MW002',
            MESSAGE = format('wallet of resident %s is %s: no money leaves it', p_resident, v_status);
    END IF;
    RETURN QUERY
        SELECT l.id, l.remaining FROM wallet_points_lots l
         WHERE l.resident_id = p_resident AND l.remaining > 0 AND l.expires_at > p_now
         ORDER BY l.expires_at, l.id
           FOR UPDATE;
END $$;
