-- Nor emptied wholesale: TRUNCATE fires no row trigger, so it has its own.
CREATE TRIGGER desk_audit_no_truncate BEFORE TRUNCATE ON desk_audit
    FOR EACH STATEMENT EXECUTE FUNCTION desk_reject_change();
