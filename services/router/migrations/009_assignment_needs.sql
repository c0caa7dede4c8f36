-- The needs each assignment covers, so a reroute after a decline asks the next provider for that part only
-- (and minimisation gives it only what that part needs). NULL on rows from before: the whole referral.
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS needs text[];
