-- The recorder writes under a role that may only read and insert: even a
-- bug or a compromised recorder cannot rewrite history. The trigger from
-- 001 stays as the second line of defence, for every other role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'signpost_audit_writer') THEN
        CREATE ROLE signpost_audit_writer NOLOGIN;
    END IF;
    EXECUTE format('GRANT signpost_audit_writer TO %I', current_user);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO signpost_audit_writer', current_schema());
END $$;
GRANT SELECT, INSERT ON audit_log TO signpost_audit_writer;

-- Retention prunes the oldest rows; an anchor keeps the last pruned row's
-- position and hash so the remaining chain still verifies from there.
CREATE TABLE audit_anchors (
    seq bigint PRIMARY KEY,
    row_hash text NOT NULL,
    rows_pruned bigint NOT NULL,
    pruned_before timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_anchors_append_only
    BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

-- Deletion is refused except by the retention job, and then only for rows
-- already covered by an anchor.
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log'
       AND current_setting('signpost.audit_retention', true) = 'on'
       AND OLD.seq <= (SELECT max(seq) FROM audit_anchors) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$;
GRANT SELECT ON audit_anchors TO signpost_audit_writer;
