"""The notifier service: delivers assignments to agencies, collects outcomes, and escalates what nobody picks up.

``app.py`` is the wiring map. Kafka handlers are in ``handlers/``, HTTP routes
in ``api/``, work on a clock in ``loops/``, pure rules in ``domain/`` (the
webhook wing's in ``domain/webhooks/``) and every SQL statement in ``store/``.
"""
