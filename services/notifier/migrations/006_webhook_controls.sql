-- The circuit breaker moves from the notifier's memory to the database, beside
-- the pause: every notifier instance shares it, and a restart does not forget
-- an agency that keeps failing. A pause may now end by itself.
ALTER TABLE agency_controls
    ALTER COLUMN paused SET DEFAULT false,
    -- changed_by/changed_at say who last paused or resumed; null on a row the sender made for the breaker alone.
    ALTER COLUMN changed_by DROP NOT NULL,
    ADD COLUMN paused_until timestamptz,                     -- null while paused: until someone resumes
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN opened_at timestamptz,                        -- null: the breaker is closed
    ADD COLUMN probe_started_at timestamptz;                 -- the half-open probe in flight, if any

ALTER TABLE webhooks ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- webhook_deliveries.status may now also be 'handed_to_kafka': the agency removed its webhook while it waited.
-- first_attempt_at starts the give-up clock; a pause clears it, so the clock starts again after the pause.
-- next_attempt_at is also the lease of a delivery being sent: it is due again then if the sender died mid-request.
