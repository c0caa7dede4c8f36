-- The assignment lifecycle: where each delivered assignment stands, every
-- outcome reported on it, and the SLA timers that watch it.
ALTER TABLE deliveries
    ADD COLUMN state text NOT NULL DEFAULT 'delivered',
    ADD COLUMN accepted boolean NOT NULL DEFAULT false,
    ADD COLUMN service_id text,
    ADD COLUMN network_id text,
    ADD COLUMN urgency text NOT NULL DEFAULT 'routine',
    ADD COLUMN journey_id uuid,
    ADD COLUMN contacted_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- One row per outcome accepted into an assignment's history. The agency's own
-- report id is the key, so a repeated report (retry, redelivery) is recognised.
CREATE TABLE outcomes (
    report_id uuid PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES deliveries,
    outcome text NOT NULL,
    previous_state text NOT NULL,
    state text NOT NULL,
    reported_by text NOT NULL,
    channel text NOT NULL,            -- http | kafka
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcomes_assignment ON outcomes (assignment_id);

-- Durable SLA timers: set at delivery, cleared by outcomes, fired by the
-- notifier's timer loop. They live here, not in memory, so a restart loses none.
CREATE TABLE sla_timers (
    assignment_id uuid NOT NULL REFERENCES deliveries,
    name text NOT NULL,
    due_at timestamptz NOT NULL,
    on_breach text NOT NULL,
    cleared_at timestamptz,
    fired_at timestamptz,
    PRIMARY KEY (assignment_id, name)
);
CREATE INDEX sla_timers_due ON sla_timers (due_at) WHERE cleared_at IS NULL AND fired_at IS NULL;
