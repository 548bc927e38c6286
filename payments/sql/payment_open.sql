-- A QR payment's first call: claims the resident's Idempotency-Key, reads the shop the code
-- names, and takes the payer's lock with the points lots it may spend. Each step is its
-- owner's function (idempotency_claim, merchant_scanned, wallet_lock_lots); one call instead
-- of three, because every round trip inside the payment's transaction is time its locks and
-- its connection are held while the API worker's event loop serves someone else.
-- It stops early, having locked nothing, when the key was claimed before (record_id NULL:
-- the stored hash and answer are returned for the replay) or when the shop cannot be paid
-- (merchant_id NULL: no such shop; merchant_status other than 'active': not now); Python
-- turns both into the same answers as before. The wallet's refusals (MW001-MW003) are raised
-- by wallet_lock_lots and pass through unchanged.
CREATE OR REPLACE FUNCTION public.payment_open(
    p_scope text, p_key text, p_request_hash text, p_created_at timestamptz,
    p_public_id text, p_resident bigint, p_now timestamptz
) RETURNS TABLE (
    record_id bigint, stored_hash text, stored_status integer, stored_body text,
    merchant_id bigint, merchant_name text, shopping_street_id bigint, category text,
    store_type text, merchant_status text, street_name text, district_id text,
    lot_ids bigint[], lot_remaining bigint[]
) LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.record_id, c.stored_hash, c.stored_status, c.stored_body
      INTO record_id, stored_hash, stored_status, stored_body
      FROM idempotency_claim(p_scope, p_key, p_request_hash, p_created_at) c;
    IF record_id IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT s.merchant_id, s.name, s.shopping_street_id, s.category, s.store_type, s.status,
           s.street_name, s.district_id
      INTO merchant_id, merchant_name, shopping_street_id, category, store_type,
           merchant_status, street_name, district_id
      FROM merchant_scanned(p_public_id) s;
    IF merchant_id IS NULL OR merchant_status <> 'active' THEN
        RETURN NEXT;
        RETURN;
    END IF;

    -- Oldest expiry first, as wallet_lock_lots returns them.
    SELECT coalesce(array_agg(l.lot_id ORDER BY l.n), '{}'),
           coalesce(array_agg(l.remaining ORDER BY l.n), '{}')
      INTO lot_ids, lot_remaining
      FROM wallet_lock_lots(p_resident, p_now) WITH ORDINALITY AS l(lot_id, remaining, n);
    RETURN NEXT;
END $$;
