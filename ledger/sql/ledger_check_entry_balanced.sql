-- Checked at COMMIT, whoever wrote the rows (our code or a raw INSERT): an entry has at
-- least two postings and they sum to zero (raises ML011). Fired for new entries and for
-- postings added to an existing entry.
CREATE OR REPLACE FUNCTION public.ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_sum numeric;
    v_count bigint;
BEGIN
    IF TG_TABLE_NAME = 'ledger_entries' THEN
        v_entry := NEW.id;
    ELSE
        v_entry := NEW.entry_id;
    END IF;
    SELECT coalesce(sum(amount), 0), count(*) INTO v_sum, v_count
      FROM ledger_postings WHERE entry_id = v_entry;
    IF v_sum <> 0 OR v_count < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'ML011',
            MESSAGE = format('ledger entry %s is unbalanced: %s postings summing to %s',
                             v_entry, v_count, v_sum);
    END IF;
    RETURN NULL;
END $$;
