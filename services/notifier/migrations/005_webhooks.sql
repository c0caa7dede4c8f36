-- Agencies that take referrals by webhook instead of their Kafka topic, what
-- is waiting to be sent to them, and the operators' pause switch.
CREATE TABLE webhooks (
    agency_id text PRIMARY KEY,
    url text NOT NULL,
    -- The shared HMAC secret. Production keeps it in a secrets manager and this column holds a reference.
    secret text NOT NULL,
    initial_delay_s double precision NOT NULL,
    max_delay_s double precision NOT NULL,
    give_up_after_s double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE webhook_deliveries (
    copy_id uuid PRIMARY KEY,                -- the agency copy's event id: the receiver's idempotency key
    agency_id text NOT NULL,
    assignment_id uuid NOT NULL,
    body bytea NOT NULL,
    delivered_event bytea NOT NULL,          -- assignment.delivered, published once the agency has said 2xx
    patient_key text NOT NULL,
    status text NOT NULL DEFAULT 'pending',  -- pending | delivered | dead_lettered
    attempts integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    delivered_at timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE agency_controls (
    agency_id text PRIMARY KEY,
    paused boolean NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
