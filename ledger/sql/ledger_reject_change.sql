-- Entries, postings, checkpoints and sealed blocks are append-only (DESIGN.md 3): a mistake
-- is corrected by a reversing entry, never by changing a row, whoever tries (our code or a
-- raw UPDATE). Raises ML010; the ledger's SQLSTATEs (class ML) are mapped in
-- ledger/_dberrors.py.
CREATE OR REPLACE FUNCTION public.ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'ML010',
        MESSAGE = format('%s is append-only: correct a mistake with a reversing entry', TG_TABLE_NAME);
END $$;
