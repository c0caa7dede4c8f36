-- Append-only, hash-chained record of every event Signpost publishes.
-- Each row's hash covers the previous row's hash, so an edited, deleted,
-- inserted or reordered row breaks the chain where it happened.
CREATE TABLE audit_log (
    seq bigint PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    topic text NOT NULL,
    referral_id uuid,
    patient_key text,
    correlation_id text,
    occurred_at timestamptz,
    recorded_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    prev_hash text NOT NULL,
    row_hash text NOT NULL
);
CREATE INDEX audit_log_referral ON audit_log (referral_id, seq);
CREATE INDEX audit_log_patient ON audit_log (patient_key, seq);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
