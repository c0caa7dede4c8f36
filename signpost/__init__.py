"""Signpost's shared runtime: settings, logging, database, outbox, consumers, health.

Services under ``services/`` build on this package; it knows nothing about
referrals beyond the event envelope.
"""
