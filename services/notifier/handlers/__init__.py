"""Kafka in: one module per followed topic, each parsing nothing itself (``app.wire`` names the parser) and handling a batch.

``routed`` delivers ``referral.routed``; ``outcomes`` records what agencies report on ``agency.<id>.outcomes`` (and
over HTTP, through the same path); ``cancelled`` follows ``referral.cancelled``; ``dead_letters`` keeps
``signpost.deadletter``. ``practice_feedback`` is no topic's: it is the step they (and the SLA timers) share to
tell the referrer.
"""
