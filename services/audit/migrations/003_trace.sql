-- The W3C trace id the event travelled under: one referral, one trace.
ALTER TABLE audit_log ADD COLUMN trace_id text;
