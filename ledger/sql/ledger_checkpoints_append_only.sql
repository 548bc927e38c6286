-- A checkpoint is a hot account's balance at a past posting, which later balances are
-- computed from: never changed.
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
