-- Outcome detail on each assignment as the referrer sees it, so intake can
-- say when a referral is completed (and refuse to cancel it then).
ALTER TABLE referral_assignments ADD COLUMN replaces_assignment_id uuid;
ALTER TABLE referral_assignments ADD COLUMN outcome_detail text;
