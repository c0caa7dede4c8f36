-- The audit service runs as signpost_audit_writer, never as this schema's owner
-- (signpost/database_roles.py). Besides reading and appending its log (004), it
-- needs the runtime's own tables: the inbox it claims events in and the outbox
-- it publishes through (UPDATE marks a row published; DELETE is for their
-- retention). It may not update, delete or truncate the log or its anchors.
-- Retention is the operator's alone: signpost_audit_pruner may delete log rows
-- an anchor covers (the append-only trigger checks) and write anchors, nothing
-- more. Tables added here later are read-and-append for the writer by default.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'signpost_audit_pruner') THEN
        CREATE ROLE signpost_audit_pruner NOLOGIN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO signpost_audit_writer, signpost_audit_pruner', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT ON TABLES TO signpost_audit_writer',
                   current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO signpost_audit_writer',
                   current_schema());
END $$;
GRANT SELECT ON schema_migrations TO signpost_audit_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, processed_events TO signpost_audit_writer;
GRANT USAGE ON SEQUENCE outbox_id_seq TO signpost_audit_writer;
GRANT SELECT, DELETE ON audit_log TO signpost_audit_pruner;
GRANT SELECT, INSERT ON audit_anchors TO signpost_audit_pruner;
