-- The weekly report picks a week's referrals by submission time. Without this it
-- reads every referral.submitted row ever recorded (a twelfth of the log) per report.
CREATE INDEX IF NOT EXISTS audit_log_type_occurred ON audit_log (event_type, occurred_at);
