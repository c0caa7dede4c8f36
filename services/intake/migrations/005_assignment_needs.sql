-- The needs each assignment asks its agency to meet (as referral.routed carried
-- them), so intake can show an agency over HTTP the same minimised case the
-- notifier sent it (schemas.minimise). Assignments recorded before this have
-- none: like an assignment that names no needs on Kafka, they stand for the
-- whole referral.
ALTER TABLE referral_assignments ADD COLUMN needs text[] NOT NULL DEFAULT '{}';
