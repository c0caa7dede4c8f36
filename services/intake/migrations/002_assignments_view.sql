-- Intake's read model of where each referral went, fed by referral.routed
-- and assignment events, so it can answer "status and assignments" and
-- decide who may read a referral without asking another service.
CREATE TABLE referral_assignments (
    assignment_id uuid PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals,
    agency_id text NOT NULL,
    service_id text NOT NULL,
    service_type text NOT NULL,
    status text NOT NULL,
    reason text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_assignments_referral ON referral_assignments (referral_id);
