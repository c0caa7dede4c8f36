-- The assigned service's name and its network's coordinator, as the router's
-- directory described them when it routed (referral.routed "services", contract
-- 2.2.0). Feedback names the service, and a breach copies the coordinator, from
-- these, not from seed files the notifier would otherwise read on its own.
-- NULL for deliveries from before: those fall back to the seed files.
ALTER TABLE deliveries ADD COLUMN service_name text, ADD COLUMN coordinator_agency_id text;
