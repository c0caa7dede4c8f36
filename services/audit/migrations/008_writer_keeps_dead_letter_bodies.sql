-- Audit dead-letters an oversized record by digest and keeps its bytes in dead_letter_bodies (runtime
-- migration 004), which retention prunes. That table came before 007's default privileges, so the writer
-- it runs as needs the rights granted here, or an oversized record would fail its dead letter and stall audit.
GRANT SELECT, INSERT, DELETE ON dead_letter_bodies TO signpost_audit_writer;
