-- Stores a claimed key's answer (its HTTP status and JSON body), in the transaction of the
-- work it answers: a replay after COMMIT returns exactly this. A function so that a route can
-- fold it into its last call (payment_record) and every other route stores the same way.
-- PL/pgSQL, not SQL: a SQL function's body is parsed and planned again on every call (PostgreSQL
-- 15), a PL/pgSQL function's statement plan is cached per connection.
CREATE OR REPLACE FUNCTION public.idempotency_answer(
    p_record_id bigint, p_status integer, p_body text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idempotency_keys SET status_code = p_status, response_body = p_body
     WHERE id = p_record_id;
END $$;
