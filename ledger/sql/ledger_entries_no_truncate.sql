-- TRUNCATE fires no row trigger, so it is refused on ledger_entries by a statement trigger
-- of its own.
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
