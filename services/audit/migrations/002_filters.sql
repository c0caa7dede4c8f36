-- Columns the live stream and queries filter on, extracted when a row is
-- recorded (they are covered by the row hash through the payload).
ALTER TABLE audit_log ADD COLUMN agency_id text;
ALTER TABLE audit_log ADD COLUMN network_id text;
CREATE INDEX audit_log_agency ON audit_log (agency_id, seq);
CREATE INDEX audit_log_recorded ON audit_log (recorded_at);
CREATE INDEX audit_log_type ON audit_log (event_type, seq);
