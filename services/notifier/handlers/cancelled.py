"""Cancellations from referrers, on ``referral.cancelled``: nothing more of the referral reaches an agency."""

from collections.abc import Sequence
from datetime import UTC, datetime

from schemas.events import ReferralCancelled
from schemas.ids import derived_event_id
from schemas.minimise import agency_cancellation
from schemas.topics import agency_referrals
from services.notifier.domain import outcomes
from services.notifier.domain.outcomes import FINISHED, AssignmentState, SystemEvent
from services.notifier.store import cancellations, deliveries
from services.notifier.store import webhooks as webhook_store
from services.notifier.store.deliveries import (
    lock_assignment,
    lock_referrals,
    store_move,
)
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import enqueue

log = logs.get_logger()


async def handle_cancelled(
    conn: Conn, batch: Sequence[Incoming[ReferralCancelled]]
) -> None:
    """The referrer cancelled: every open assignment is cancelled, its timers stop, and its agency is told.

    The cancellation is kept, so that an assignment of the referral routed later (a reroute of a decline
    made just before it) is never delivered (``handlers.routed``), and a webhook not yet sent is withdrawn.
    """
    await lock_referrals(conn, (item.event.referral_id for item in batch))
    await cancellations.keep(
        conn,
        [
            (item.event.referral_id, item.event.event_id, item.event.occurred_at)
            for item in batch
        ],
    )
    for item in batch:
        cancelled = item.event
        assignments = await deliveries.assignments_of_referral(
            conn, cancelled.referral_id
        )
        await webhook_store.withdraw_pending(conn, assignments)
        for assignment_id in assignments:
            delivery = await lock_assignment(conn, assignment_id)
            if delivery is None or AssignmentState(delivery["state"]) in FINISHED:
                continue
            move = outcomes.apply(
                AssignmentState(delivery["state"]),
                SystemEvent.CANCELLED,
                accepted=delivery["accepted"],
            )
            await store_move(
                conn, delivery, move, SystemEvent.CANCELLED, datetime.now(UTC)
            )
            notice_id = derived_event_id(
                cancelled.event_id,
                f"to:{delivery['agency_id']}:{delivery['assignment_id']}",
            )
            await enqueue(
                conn,
                topic=agency_referrals(delivery["agency_id"]),
                key=cancelled.patient_key,
                event=agency_cancellation(cancelled, notice_id),
                event_id=notice_id,
                headers={
                    "event-type": cancelled.type,
                    "correlation-id": cancelled.correlation_id,
                },
            )
            log.info("assignment cancelled by referrer", agency=delivery["agency_id"])
