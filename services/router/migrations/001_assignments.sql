-- The router's decisions: one row per routed referral, one per assignment.
CREATE TABLE decisions (
    referral_id uuid PRIMARY KEY,
    submitted_event_id uuid NOT NULL UNIQUE,
    patient_key text NOT NULL,
    outcome text NOT NULL,             -- routed | unroutable
    rule_set_version text NOT NULL,
    explanation jsonb NOT NULL,
    referral jsonb NOT NULL,           -- kept for reroutes and what-if simulation
    decided_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE assignments (
    assignment_id uuid PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES decisions,
    service_id text NOT NULL,
    service_type text NOT NULL,
    agency_id text NOT NULL,
    rule_id text NOT NULL,
    reason text NOT NULL,
    status text NOT NULL DEFAULT 'assigned',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignments_referral ON assignments (referral_id);
