-- A sealed block is a link of the hash chain `machipay verify` checks: never changed.
CREATE TRIGGER ledger_blocks_append_only BEFORE UPDATE OR DELETE ON ledger_blocks
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
