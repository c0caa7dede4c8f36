-- One row per assignment the notifier has delivered (or is delivering).
CREATE TABLE deliveries (
    assignment_id uuid PRIMARY KEY,
    referral_id uuid NOT NULL,
    agency_id text NOT NULL,
    service_type text NOT NULL,
    channel text NOT NULL,
    status text NOT NULL,
    patient_key text NOT NULL,
    correlation_id text NOT NULL,
    referrer_ods text NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_referral ON deliveries (referral_id);
