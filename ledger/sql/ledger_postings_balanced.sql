-- A posting written other than by ledger_post (a raw INSERT, or into an entry of an earlier
-- transaction) makes its entry be checked at COMMIT too; ledger_post's own postings are
-- covered by their entry's check. WHEN is evaluated as the row is written, so a skipped
-- posting queues nothing.
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.entry_id::text IS DISTINCT FROM current_setting('ledger.posting_entry', true))
    EXECUTE FUNCTION ledger_check_entry_balanced();
