"""Cancelled referrals: kept once (the first cancellation stands), and looked up under the referral's lock."""

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from signpost.database import Conn
from signpost.referral_lock import lock_referrals

LOCKS = 0x5249_5452  # the router's space of referral locks
CANCELLED = "cancelled"  # a decision's outcome once its referral is cancelled


async def lock(conn: Conn, referral_ids: Iterable[UUID]) -> None:
    await lock_referrals(conn, LOCKS, referral_ids)


async def cancelled_among(conn: Conn, referral_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these referrals are cancelled; call with their locks held."""
    rows = await conn.fetch(
        "SELECT referral_id FROM cancellations WHERE referral_id = ANY($1::uuid[])",
        list(referral_ids),
    )
    return {r["referral_id"] for r in rows}


async def keep(conn: Conn, cancelled: list[tuple[UUID, UUID, datetime]]) -> None:
    """Keep each (referral, cancelling event, when); a referral already cancelled keeps its first cancellation."""
    await conn.executemany(
        "INSERT INTO cancellations (referral_id, cancel_event_id, cancelled_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (referral_id) DO NOTHING",
        cancelled,
    )
