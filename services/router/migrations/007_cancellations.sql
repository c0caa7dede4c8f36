-- Referrals their referrer has cancelled (referral.cancelled, from intake). The
-- router never routes, reroutes or assigns one of these by hand. Kept apart from
-- decisions: a cancellation may be read before the submission it cancels.
CREATE TABLE cancellations (
    referral_id uuid PRIMARY KEY,
    cancel_event_id uuid NOT NULL,
    cancelled_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
