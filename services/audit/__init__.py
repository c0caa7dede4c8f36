"""The audit service: a tamper-evident record of every event, queryable and live.

Every record on every Signpost topic is kept once, in order, in hash chains
no one can rewrite unnoticed; identifying content is kept only as a digest.
Every read of the log is itself recorded as an access.
"""
