"""Deliver each routed assignment to its agency, once, and say so.

The agency copy and the ``assignment.delivered`` event go to the outbox in
the same transaction as the delivery row, so an agency never receives the
same assignment twice as two referrals: a redelivered ``referral.routed``
finds the row (by assignment id) and does nothing. An assignment of a
referral its referrer has cancelled is never delivered.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from schemas.events import (
    AgencyReferral,
    Assignment,
    AssignmentDelivered,
    ReferralRouted,
)
from schemas.ids import derived_event_id
from schemas.minimise import agency_case
from schemas.topics import ASSIGNMENT_DELIVERED, agency_referrals
from services.notifier.domain.sla import planned_timers
from services.notifier.handlers.practice_feedback import tell_referrer_of_reroute
from services.notifier.store import deliveries
from services.notifier.store import webhooks as webhook_store
from services.notifier.store.cancellations import cancelled_among
from services.notifier.store.deliveries import lock_referrals
from services.notifier.store.timers import start_timers
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import OutboxRow, enqueue_many, outbox_row

log = logs.get_logger()


Handler = Callable[[Conn, Sequence[Incoming[ReferralRouted]]], Awaitable[None]]


def handler(sla_demo_seconds: float | None = None) -> Handler:
    async def handle_routed(
        conn: Conn, batch: Sequence[Incoming[ReferralRouted]]
    ) -> None:
        # Under the referral's lock, a cancellation is either already kept (and nothing is delivered) or comes
        # after this transaction, and then finds these deliveries and cancels them, telling the agency.
        await lock_referrals(conn, (item.event.referral_id for item in batch))
        cancelled = await cancelled_among(
            conn, (item.event.referral_id for item in batch)
        )
        offered = _offered(batch, cancelled)
        new = await _record_new(conn, offered)
        await _tell_referrers_of_reroutes(conn, offered, new)
        hooked = await webhook_store.hooked(conn, {a.agency_id for _, a in offered})
        timers, events, webhooks = _handed(offered, new, hooked, sla_demo_seconds)
        await start_timers(conn, timers)
        await enqueue_many(conn, events)
        if webhooks:
            await webhook_store.queue(conn, webhooks)
            await deliveries.mark_webhook(conn, [w[2] for w in webhooks])

    return handle_routed


Offered = list[tuple[Incoming[ReferralRouted], Assignment]]


def _offered(
    batch: Sequence[Incoming[ReferralRouted]], cancelled: Collection[UUID]
) -> Offered:
    """Every assignment of the batch, but those of a referral its referrer has cancelled (withheld, and logged)."""
    for item in batch:
        if item.event.referral_id in cancelled:
            with logs.handling(
                item.topic,
                item.headers,
                item.event.referral_id,
                item.event.correlation_id,
            ):
                log.info(
                    "assignments of a cancelled referral withheld",
                    assignments=len(item.event.assignments),
                )
    return [
        (item, a)
        for item in batch
        if item.event.referral_id not in cancelled
        for a in item.event.assignments
    ]


def _handed(
    offered: Offered,
    new: Mapping[UUID, datetime],
    hooked: Collection[str],
    sla_demo_seconds: float | None,
) -> tuple[list[tuple[Any, ...]], list[OutboxRow], list[tuple[Any, ...]]]:
    """The timers, outbox rows and webhook rows for the newly recorded deliveries: pure, tested without a database."""
    timers: list[tuple[Any, ...]] = []
    events: list[OutboxRow] = []
    webhooks: list[tuple[Any, ...]] = []
    for item, assignment in offered:
        delivered_at = new.get(assignment.assignment_id)
        if (
            delivered_at is None
        ):  # delivered before (a redelivered or replayed routed event): nothing again
            continue
        routed = item.event
        with logs.handling(
            item.topic, item.headers, routed.referral_id, routed.correlation_id
        ):
            planned = planned_timers(
                assignment.service_type,
                routed.referral.urgency,
                delivered_at,
                sla_demo_seconds,
            )
            timers += [
                (assignment.assignment_id, t.name.value, t.due_at, t.on_breach.value)
                for t in planned
            ]
            copy, delivered = _announcements(
                routed,
                assignment,
                "webhook" if assignment.agency_id in hooked else "kafka",
            )
            if assignment.agency_id in hooked:
                # The agency chose a webhook: the sender posts the copy and says "delivered" once the agency answers 2xx.
                webhooks.append(
                    (
                        copy[0],
                        assignment.agency_id,
                        assignment.assignment_id,
                        copy[3],
                        delivered[3],
                        routed.patient_key,
                    )
                )
            else:
                events += [copy, delivered]
            log.info("assignment handed to its channel", agency=assignment.agency_id)
    return timers, events, webhooks


def _described(
    routed: ReferralRouted, assignment: Assignment
) -> tuple[str | None, str | None]:
    """The service's name and its network's coordinator, as the router's directory had them; None from older routers."""
    found = routed.services.get(assignment.service_id)
    return (found.name, found.coordinator_agency_id) if found else (None, None)


async def _record_new(
    conn: Conn, offered: list[tuple[Incoming[ReferralRouted], Assignment]]
) -> dict[UUID, datetime]:
    """Insert the batch's deliveries in one statement; return those that are new, with when they were delivered."""
    return await deliveries.record_new(
        conn,
        [
            (
                a.assignment_id,
                i.event.referral_id,
                a.agency_id,
                a.service_type.value,
                i.event.patient_key,
                i.event.correlation_id,
                i.event.referral.referrer.ods_code,
                a.service_id,
                a.network_id,
                i.event.referral.urgency.value,
                i.event.journey_id,
                *_described(i.event, a),
            )
            for i, a in offered
        ],
    )


async def _tell_referrers_of_reroutes(
    conn: Conn, offered: Offered, new: Mapping[UUID, datetime]
) -> None:
    """Each newly recorded assignment that replaces a declined one is news to the referrer (once: only new rows)."""
    rerouted = [
        a.assignment_id
        for _, a in offered
        if a.replaces_assignment_id is not None and a.assignment_id in new
    ]
    if not rerouted:
        return
    for row in await deliveries.of_assignments(conn, rerouted):
        await tell_referrer_of_reroute(conn, row, at=new[row["assignment_id"]])


def _announcements(
    routed: ReferralRouted, assignment: Assignment, channel: Literal["kafka", "webhook"]
) -> tuple[OutboxRow, OutboxRow]:
    """The agency's own (minimised) copy on its topic, and ``assignment.delivered`` for everyone else."""
    delivered = AssignmentDelivered(
        event_id=derived_event_id(assignment.assignment_id, "delivered"),
        occurred_at=datetime.now(UTC),
        correlation_id=routed.correlation_id,
        journey_id=routed.journey_id,
        producer="notifier",
        patient_key=routed.patient_key,
        referral_id=routed.referral_id,
        assignment_id=assignment.assignment_id,
        agency_id=assignment.agency_id,
        channel=channel,
    )
    copy_id = derived_event_id(assignment.assignment_id, "agency-copy")
    copy = AgencyReferral(
        event_id=copy_id,
        occurred_at=delivered.occurred_at,
        correlation_id=routed.correlation_id,
        journey_id=routed.journey_id,
        producer="notifier",
        patient_key=routed.patient_key,
        referral_id=routed.referral_id,
        assignment=assignment,
        referral=agency_case(routed.referral, assignment),
    )
    return (
        outbox_row(
            topic=agency_referrals(assignment.agency_id),
            key=routed.patient_key,
            event=copy,
            event_id=copy_id,
            headers={"event-type": copy.type, "correlation-id": routed.correlation_id},
        ),
        outbox_row(
            topic=ASSIGNMENT_DELIVERED,
            key=routed.patient_key,
            event=delivered,
            event_id=delivered.event_id,
            headers={
                "event-type": delivered.type,
                "correlation-id": routed.correlation_id,
            },
        ),
    )
