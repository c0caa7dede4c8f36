"""The referrer cancelled: the router records it and never routes, reroutes or assigns that referral again.

Without this, a decline recorded just before a cancellation was rerouted and
delivered to the next provider. The router hears ``referral.cancelled`` from
intake and keeps it (idempotently: the first cancellation of a referral
stands). Routing, rerouting and hand assignment each take the referral's lock
(``signpost.referral_lock``) before they look here, so a cancellation is
either seen or comes after what they did, never lost between the two.
"""

from collections.abc import Sequence

from schemas.events import ReferralCancelled
from services.router.store import cancellations, decisions
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn

log = logs.get_logger()


async def handle_cancelled(
    conn: Conn, batch: Sequence[Incoming[ReferralCancelled]]
) -> None:
    await cancellations.lock(conn, (item.event.referral_id for item in batch))
    await cancellations.keep(
        conn,
        [
            (item.event.referral_id, item.event.event_id, item.event.occurred_at)
            for item in batch
        ],
    )
    # A referral already decided says so too: hand assignment and the record read it there.
    await decisions.set_outcome_of_all(
        conn, [i.event.referral_id for i in batch], cancellations.CANCELLED
    )
    for item in batch:
        with logs.handling(
            item.topic, item.headers, item.event.referral_id, item.event.correlation_id
        ):
            log.info("referral cancelled; no further routing")
