-- The help desk's audit is append-only: who looked at whose account, and why, is what the
-- resident reads in their access log and what an inspection relies on, so no code path and
-- no raw UPDATE may rewrite or remove a row. Raises MD001.
CREATE OR REPLACE FUNCTION public.desk_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'MD001',
        MESSAGE = format('%s is append-only', TG_TABLE_NAME);
END $$;
