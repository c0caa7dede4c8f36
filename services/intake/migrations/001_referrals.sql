-- Intake's own record of every referral it accepted. Every version is kept
-- (BaRS: no in-place edits); the referral row holds the current status.
CREATE TABLE referrals (
    referral_id uuid PRIMARY KEY,
    journey_id uuid NOT NULL,
    patient_key text NOT NULL,
    referrer_ods text NOT NULL,
    client_id text NOT NULL,
    status text NOT NULL,
    correlation_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referrals_patient ON referrals (patient_key);

CREATE TABLE referral_versions (
    referral_id uuid NOT NULL REFERENCES referrals,
    version int NOT NULL,
    status text NOT NULL,
    body jsonb NOT NULL,
    source text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (referral_id, version)
);

-- X-Request-Id replay protection: the same id returns the original answer;
-- the same id with another body is a conflict.
CREATE TABLE idempotency_keys (
    client_id text NOT NULL,
    request_id text NOT NULL,
    body_hash text NOT NULL,
    status_code int NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, request_id)
);
