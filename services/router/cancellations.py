"""The referrer cancelled: the router records it and never routes, reroutes or assigns that referral again.

Without this, a decline recorded just before a cancellation was rerouted and
delivered to the next provider. The router hears ``referral.cancelled`` from
intake and keeps it (idempotently: the first cancellation of a referral
stands). Routing, rerouting and hand assignment each take the referral's lock
(``signpost.referral_lock``) before they look here, so a cancellation is
either seen or comes after what they did, never lost between the two.
"""

from collections.abc import Iterable, Sequence
from uuid import UUID

from schemas.events import ReferralCancelled
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.referral_lock import lock_referrals

LOCKS = 0x5249_5452  # the router's space of referral locks
CANCELLED = "cancelled"  # a decision's outcome once its referral is cancelled
log = logs.get_logger()


async def lock(conn: Conn, referral_ids: Iterable[UUID]) -> None:
    await lock_referrals(conn, LOCKS, referral_ids)


async def cancelled_among(conn: Conn, referral_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these referrals are cancelled; call with their locks held."""
    rows = await conn.fetch("SELECT referral_id FROM cancellations WHERE referral_id = ANY($1::uuid[])", list(referral_ids))
    return {r["referral_id"] for r in rows}


async def handle_cancelled(conn: Conn, batch: Sequence[Incoming[ReferralCancelled]]) -> None:
    await lock(conn, (item.event.referral_id for item in batch))
    await conn.executemany(
        "INSERT INTO cancellations (referral_id, cancel_event_id, cancelled_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (referral_id) DO NOTHING",
        [(item.event.referral_id, item.event.event_id, item.event.occurred_at) for item in batch],
    )
    # A referral already decided says so too: hand assignment and the record read it there.
    await conn.execute(
        "UPDATE decisions SET outcome = $2 WHERE referral_id = ANY($1::uuid[])", [i.event.referral_id for i in batch], CANCELLED
    )
    for item in batch:
        with logs.handling(item.topic, item.headers, item.event.referral_id, item.event.correlation_id):
            log.info("referral cancelled; no further routing")
