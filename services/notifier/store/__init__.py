"""Every SQL statement of the notifier, in modules named by what they keep.

Each function runs inside the caller's transaction; none opens one of its own.
Migrations apart, no other module of the notifier holds SQL text.
"""
