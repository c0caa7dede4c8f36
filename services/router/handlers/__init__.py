"""Kafka in: one module per followed topic (referral.submitted, assignment.outcome, referral.cancelled)."""
