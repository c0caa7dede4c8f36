-- Patient links (issue 15): a patient's trail follows the keys intake linked
-- (referral.submitted's linked_patient_keys). Only the few submitted rows that
-- name a link are indexed, by either side of it, so the walk reads only them.
CREATE INDEX IF NOT EXISTS audit_log_links_named ON audit_log USING gin ((payload -> 'linked_patient_keys'))
    WHERE event_type = 'referral.submitted' AND payload -> 'linked_patient_keys' <> '[]'::jsonb;
CREATE INDEX IF NOT EXISTS audit_log_links_holder ON audit_log (patient_key)
    WHERE event_type = 'referral.submitted' AND payload -> 'linked_patient_keys' <> '[]'::jsonb;
