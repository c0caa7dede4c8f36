-- A hand assignment (operations staff routing an unroutable referral) publishes
-- a referral.routed event of its own, which must follow the original journey.
ALTER TABLE decisions
    ADD COLUMN journey_id uuid,
    ADD COLUMN correlation_id text;
