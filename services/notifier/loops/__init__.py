"""The notifier's work on a clock: SLA timers, the webhook sender, and feedback topics for new referrers.

Each loop is started (and stopped) in ``app.wire``; each round is its own transaction, so a restart loses nothing.
"""
