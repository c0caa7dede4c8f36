"""The cancellations table: every referral its referrer has cancelled, kept so that nothing of it is delivered later."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from signpost.database import Conn


async def keep(conn: Conn, rows: Sequence[tuple[UUID, UUID, datetime]]) -> None:
    """Keep (referral id, cancel event id, cancelled at) rows; a cancellation kept before stays as it was."""
    await conn.executemany(
        "INSERT INTO cancellations (referral_id, cancel_event_id, cancelled_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (referral_id) DO NOTHING",
        rows,
    )


async def cancelled_among(conn: Conn, referral_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these referrals their referrer has cancelled; call with their locks held."""
    rows = await conn.fetch(
        "SELECT referral_id FROM cancellations WHERE referral_id = ANY($1::uuid[])",
        list(referral_ids),
    )
    return {r["referral_id"] for r in rows}
