-- Group commit's first call: payment_open for each payment of a batch (payers in id order, so
-- two batches take their payers' locks in one order), each in a subtransaction of its own.
-- Answers one row per payment, in the given order, with its outcome:
--   'open'   the key is claimed, the shop can be paid, the payer is locked (lots returned),
--            and points plus money cover the amount, so the rest of the batch will not be
--            refused for funds;
--   'replay' the key was claimed before: its stored hash and answer, nothing written;
--   'alone'  anything else (a shop that cannot be paid, a frozen or unverified wallet, too
--            little money, a lock that timed out...): its subtransaction is rolled back, so
--            nothing of it is kept, not even the claim, and Python pays it again on its own,
--            where the one payment path gives the refusal its exact answer.
-- A refusal is never decided here: 'alone' only routes a payment to where it is decided.
CREATE OR REPLACE FUNCTION public.payment_open_batch(
    p_scopes text[], p_keys text[], p_request_hashes text[], p_created_at timestamptz,
    p_public_ids text[], p_residents bigint[], p_now timestamptz, p_amounts bigint[],
    p_use_points boolean[], p_money_codes text[]
) RETURNS TABLE (
    ord int, outcome text, record_id bigint, stored_hash text, stored_status integer,
    stored_body text, merchant_id bigint, merchant_name text, shopping_street_id bigint,
    category text, store_type text, merchant_status text, street_name text, district_id text,
    lot_ids bigint[], lot_remaining bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_points bigint;
BEGIN
    FOR i IN 1 .. cardinality(p_keys) LOOP
        ord := i;
        BEGIN
            SELECT o.record_id, o.stored_hash, o.stored_status, o.stored_body, o.merchant_id,
                   o.merchant_name, o.shopping_street_id, o.category, o.store_type,
                   o.merchant_status, o.street_name, o.district_id, o.lot_ids, o.lot_remaining
              INTO record_id, stored_hash, stored_status, stored_body, merchant_id,
                   merchant_name, shopping_street_id, category, store_type, merchant_status,
                   street_name, district_id, lot_ids, lot_remaining
              FROM payment_open(p_scopes[i], p_keys[i], p_request_hashes[i], p_created_at,
                                p_public_ids[i], p_residents[i], p_now) o;
            IF record_id IS NULL THEN
                outcome := 'replay';
            ELSIF merchant_id IS NULL OR merchant_status <> 'active' THEN
                RAISE EXCEPTION USING ERRCODE = 'MP901', MESSAGE = 'the shop cannot be paid now';
            ELSE
                v_points := CASE WHEN p_use_points[i]
                                 THEN (SELECT coalesce(sum(x), 0) FROM unnest(lot_remaining) x)
                                 ELSE 0 END;
                IF v_points + coalesce(ledger_balance(p_money_codes[i]), 0) < p_amounts[i] THEN
                    RAISE EXCEPTION USING ERRCODE = 'MP901', MESSAGE = 'too little money';
                END IF;
                outcome := 'open';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            outcome := 'alone';
            record_id := NULL; stored_hash := NULL; stored_status := NULL; stored_body := NULL;
            merchant_id := NULL; merchant_name := NULL; shopping_street_id := NULL;
            category := NULL; store_type := NULL; merchant_status := NULL; street_name := NULL;
            district_id := NULL; lot_ids := NULL; lot_remaining := NULL;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
