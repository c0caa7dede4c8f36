-- Referrals their referrer has cancelled (referral.cancelled, from intake). The
-- notifier never delivers an assignment of one of these, by Kafka or webhook,
-- however late its referral.routed comes (a reroute of a decline made just
-- before the cancellation, say). Kept apart from deliveries: a cancellation may
-- be read before the routing it cancels.
CREATE TABLE cancellations (
    referral_id uuid PRIMARY KEY,
    cancel_event_id uuid NOT NULL,
    cancelled_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- webhook_deliveries.status may now also be 'cancelled': withdrawn before it was sent.
