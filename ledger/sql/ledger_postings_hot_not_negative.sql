-- A posting that lowers a hot account other than through ledger_post (which checked it
-- under the account's exclusive lock) is checked for an overdraft at COMMIT.
CREATE CONSTRAINT TRIGGER ledger_postings_hot_not_negative AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.balance_after IS NULL
          AND NEW.entry_id::text IS DISTINCT FROM current_setting('ledger.posting_entry', true))
    EXECUTE FUNCTION ledger_check_hot_not_negative();
