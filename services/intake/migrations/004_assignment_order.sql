-- Show a referral's assignments in the order they were made, so a reroute follows the assignment it replaces.
ALTER TABLE referral_assignments ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
