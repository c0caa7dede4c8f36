-- Untraced patients linked to traced ones (issue 15). A referral with a traced NHS
-- number claims its normalised demographics' key (services/intake/patients.py): from
-- then on an untraced referral with those demographics travels under the traced key.
-- Both columns are keyed hashes; neither holds a name, date of birth or NHS number.
-- Demographics that two traced NHS numbers claim are marked conflicting and link nobody.
CREATE TABLE patient_links (
    demographic_key text PRIMARY KEY,
    patient_key text NOT NULL,
    linked_by_referral uuid NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    conflicting boolean NOT NULL DEFAULT false,
    conflicting_since timestamptz
);
