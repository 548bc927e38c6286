-- Group commit's one round trip: many entries, each with its own legs, posted by ledger_post
-- in one transaction, each in a subtransaction of its own, so one refused entry (ML001
-- insufficient funds, ML002 a key reused with other content, ML003 an unknown account) is
-- answered on its own and undoes nothing of the others. The batch's non-hot accounts are
-- locked first, all of them in account-id order: a batch holds every lock until COMMIT, and
-- taking them entry by entry could deadlock two batches (or a batch and a single posting);
-- in one id-ordered pass it waits like any ledger_post does. The entries are checked for
-- balance at COMMIT by their triggers, as any entry is. Answers one row per entry, in the
-- given order: the entry (NULL when refused), whether it was new, and the refusal's SQLSTATE
-- and detail.
CREATE OR REPLACE FUNCTION public.ledger_post_batch(
    p_keys text[], p_kinds text[], p_memos text[], p_fingerprints text[], p_hashes text[],
    p_created_ats timestamptz[], p_leg_counts int[], p_codes text[], p_amounts bigint[]
) RETURNS TABLE (ord int, entry_id bigint, created boolean, refusal text, detail text)
LANGUAGE plpgsql AS $$
DECLARE
    v_first int := 1;
    v_last int;
BEGIN
    PERFORM 1 FROM ledger_accounts a
     WHERE a.code = ANY (p_codes) AND NOT a.hot
     ORDER BY a.id
       FOR UPDATE;
    FOR i IN 1 .. cardinality(p_keys) LOOP
        v_last := v_first + p_leg_counts[i] - 1;
        ord := i;
        refusal := NULL;
        detail := NULL;
        BEGIN
            SELECT p.entry_id, p.created INTO entry_id, created
              FROM ledger_post(p_keys[i], p_kinds[i], p_memos[i], NULL, p_fingerprints[i],
                               p_hashes[i], p_created_ats[i], p_codes[v_first:v_last],
                               p_amounts[v_first:v_last]) p;
        EXCEPTION WHEN SQLSTATE 'ML001' OR SQLSTATE 'ML002' OR SQLSTATE 'ML003' THEN
            GET STACKED DIAGNOSTICS refusal = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
            entry_id := NULL;
            created := false;
        END;
        RETURN NEXT;
        v_first := v_last + 1;
    END LOOP;
END $$;
