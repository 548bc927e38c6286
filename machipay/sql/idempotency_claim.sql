-- Claims an Idempotency-Key for one request: a new (scope, key) row, or the row already there
-- with its request hash and stored answer (status and body NULL while the first holder is
-- still working). A concurrent holder's uncommitted row makes the INSERT wait for its COMMIT
-- (the unique index), so the answer read after it is the committed one. One function, so
-- that a money-moving route can fold the claim into the first call of its own transaction
-- (payment_open) and every other route claims the same way (machipay/idempotency.py).
CREATE OR REPLACE FUNCTION public.idempotency_claim(
    p_scope text, p_key text, p_request_hash text, p_created_at timestamptz
) RETURNS TABLE (record_id bigint, stored_hash text, stored_status integer, stored_body text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO idempotency_keys (scope, key, request_hash, created_at)
    VALUES (p_scope, p_key, p_request_hash, p_created_at)
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING id INTO record_id;
    IF record_id IS NULL THEN
        SELECT k.request_hash, k.status_code, k.response_body
          INTO stored_hash, stored_status, stored_body
          FROM idempotency_keys k
         WHERE k.scope = p_scope AND k.key = p_key;
    END IF;
    RETURN NEXT;
END $$;
