"""The router service: assigns each submitted referral to the right services.

Every submitted referral gets one decision: assignments to the services its needs and red flags call
for, or unroutable with the reason. The decision is pure (``domain/``: the referral, the directory and
the rule set in, nothing read from the clock or the database), and every id in it is derived from the
event that caused it, so a replayed event makes the same decision with the same ids. A decline is rerouted to
the next suitable provider, never one that already declined; a cancelled referral is never routed,
rerouted or assigned again.
"""
