-- The audit trail is append-only, like case_events: no UPDATE, no DELETE.
CREATE FUNCTION audit_log_no_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_no_change();

CREATE INDEX audit_log_at_idx ON audit_log (at);
