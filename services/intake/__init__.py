"""Intake: the front door for referrals, over JSON and BaRS FHIR.

A referral answered 202 is stored with its ``referral.submitted`` event in
one transaction (the outbox) and will be routed: it is never lost, and a
repeated X-Request-Id gets the first answer again. The referrer, and an
agency for its own open work, read back what became of it, which intake
learns from Kafka alone.

Where things live: ``api/`` the HTTP routes (``api/fhir/`` BaRS), ``handlers/``
what it hears on Kafka, ``domain/`` the pure rules (``domain/fhir/`` the BaRS
mapping), ``store/`` every SQL statement, ``app.py`` the wiring.
"""
