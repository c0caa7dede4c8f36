-- One hash chain per shard of the patient key space (services/audit/domain/chains.py), so audit
-- instances append in parallel, each locking only the heads of the shards in its batch.
--
-- Rows already recorded are not rewritten: every one of them belongs to the legacy chain (-1), whose
-- position is its seq and whose hashes stay as they were. The seal below closes that chain at its last
-- row; each new chain starts from the seal's hash. Adding columns with a constant default changes no row
-- (and fires no trigger): old rows read chain -1, no chain_seq, tx 0.
ALTER TABLE audit_log ADD COLUMN chain smallint NOT NULL DEFAULT -1;
ALTER TABLE audit_log ADD COLUMN chain_seq bigint;
-- The transaction that wrote a row: the live stream shows rows in (tx, seq) order, and only those of
-- transactions older than every one still running, so its order is total and never changes behind a client.
ALTER TABLE audit_log ADD COLUMN tx xid8 NOT NULL DEFAULT '0';
ALTER TABLE audit_log ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
ALTER TABLE audit_log ADD CONSTRAINT audit_log_chain_position
    CHECK ((chain = -1) = (chain_seq IS NULL));
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain, chain_seq);
CREATE INDEX audit_log_stream ON audit_log (tx, seq);

-- The log-wide seq, drawn by every writer without a lock.
CREATE SEQUENCE audit_log_seq AS bigint;
SELECT setval('audit_log_seq', greatest(
    (SELECT coalesce(max(seq), 0) FROM audit_log), (SELECT coalesce(max(seq), 0) FROM audit_anchors), 1),
    (SELECT count(*) > 0 FROM audit_log) OR (SELECT count(*) > 0 FROM audit_anchors));
GRANT USAGE ON SEQUENCE audit_log_seq TO signpost_audit_writer;

CREATE TABLE audit_legacy_seal (
    seq bigint NOT NULL,
    row_hash text NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_legacy_seal (seq, row_hash)
SELECT coalesce((SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), (SELECT seq FROM audit_anchors ORDER BY seq DESC LIMIT 1), 0),
       coalesce((SELECT row_hash FROM audit_log ORDER BY seq DESC LIMIT 1),
                (SELECT row_hash FROM audit_anchors ORDER BY seq DESC LIMIT 1), repeat('0', 64));
CREATE TRIGGER audit_legacy_seal_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON audit_legacy_seal
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
GRANT SELECT ON audit_legacy_seal TO signpost_audit_writer, signpost_audit_pruner;

-- Anchors are per chain; those written before belong to the legacy chain.
ALTER TABLE audit_anchors ADD COLUMN chain smallint NOT NULL DEFAULT -1;
ALTER TABLE audit_anchors DROP CONSTRAINT audit_anchors_pkey;
ALTER TABLE audit_anchors ADD PRIMARY KEY (chain, seq);
ALTER TABLE audit_anchors ALTER COLUMN chain DROP DEFAULT;

-- Retention may delete a row only when its own chain's anchor covers it.
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log'
       AND current_setting('signpost.audit_retention', true) = 'on'
       AND coalesce(OLD.chain_seq, OLD.seq) <= (SELECT max(seq) FROM audit_anchors WHERE chain = OLD.chain) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$;
