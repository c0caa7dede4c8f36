-- A timer whose firing raised (not a database outage: a fault of the row) is
-- parked with the reason: the loop goes on with the others, and the row no
-- longer comes first at every round or after a restart. Clearing parked_at retries it.
ALTER TABLE sla_timers ADD COLUMN parked_at timestamptz, ADD COLUMN parked_reason text;
DROP INDEX IF EXISTS sla_timers_due;
CREATE INDEX sla_timers_due ON sla_timers (due_at) WHERE cleared_at IS NULL AND fired_at IS NULL AND parked_at IS NULL;

-- The same for a webhook delivery whose handling raised: status 'parked', with the reason.
ALTER TABLE webhook_deliveries ADD COLUMN parked_at timestamptz, ADD COLUMN parked_reason text;

-- A dead letter whose original was too large to travel with it carries the
-- original's sha256 and size; the bytes stay with the consumer that refused it
-- (its dead_letter_bodies table). payload is NULL then, unless the notifier
-- itself keeps the bytes (a record one of its own consumers refused).
ALTER TABLE dead_letters
    ALTER COLUMN payload DROP NOT NULL,
    ADD COLUMN payload_sha256 text,
    ADD COLUMN payload_bytes integer,
    ADD COLUMN payload_kept_by text;

-- Retention (signpost/retention.py): finished webhook deliveries and old dead letters go after their window.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (coalesce(delivered_at, next_attempt_at)) WHERE status <> 'pending';
