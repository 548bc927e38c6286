-- TRUNCATE fires no row trigger, so it is refused on ledger_postings by a statement trigger
-- of its own.
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
