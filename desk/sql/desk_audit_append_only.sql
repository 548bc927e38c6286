-- A look-up or desk action is written once, never updated or deleted (desk_reject_change).
CREATE TRIGGER desk_audit_append_only BEFORE UPDATE OR DELETE ON desk_audit
    FOR EACH ROW EXECUTE FUNCTION desk_reject_change();
