"""Deliver each routed assignment to its agency, once, and say so.

The agency copy and the ``assignment.delivered`` event go to the outbox in
the same transaction as the delivery row, so an agency never receives the
same assignment twice as two referrals: a redelivered ``referral.routed``
finds the row (by assignment id) and does nothing.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from schemas.events import AgencyReferral, AssignmentDelivered, ReferralRouted
from services.notifier.domain.minimise import agency_case
from services.notifier.timers import planned_timers, start_timers
from services.router.routing import derived_event_id
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import enqueue

DELIVERED_TOPIC = "assignment.delivered"
log = logs.get_logger()


def agency_topic(agency_id: str) -> str:
    return f"agency.{agency_id}.referrals"


Handler = Callable[[Conn, Sequence[Incoming[ReferralRouted]]], Awaitable[None]]


def handler(sla_demo_seconds: float | None = None) -> Handler:
    async def handle_routed(conn: Conn, batch: Sequence[Incoming[ReferralRouted]]) -> None:
        for item in batch:
            with logs.handling(item.topic, item.headers, item.event.referral_id, item.event.correlation_id):
                await _deliver(conn, item.event, sla_demo_seconds)

    return handle_routed


async def _deliver(conn: Conn, routed: ReferralRouted, sla_demo_seconds: float | None) -> None:
    for assignment in routed.assignments:
        delivered_at = await conn.fetchval(
            "INSERT INTO deliveries (assignment_id, referral_id, agency_id, service_type, channel, status,"
            " patient_key, correlation_id, referrer_ods, service_id, network_id, urgency, journey_id)"
            " VALUES ($1, $2, $3, $4, 'kafka', 'offered', $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (assignment_id) DO NOTHING RETURNING delivered_at",
            assignment.assignment_id,
            routed.referral_id,
            assignment.agency_id,
            assignment.service_type.value,
            routed.patient_key,
            routed.correlation_id,
            routed.referral.referrer.ods_code,
            assignment.service_id,
            assignment.network_id,
            routed.referral.urgency.value,
            routed.journey_id,
        )
        if delivered_at is None:
            continue
        timers = planned_timers(assignment.service_type, routed.referral.urgency, delivered_at, sla_demo_seconds)
        await start_timers(conn, assignment.assignment_id, timers)
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
            channel="kafka",
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
        await enqueue(
            conn,
            topic=agency_topic(assignment.agency_id),
            key=routed.patient_key,
            event=copy,
            event_id=copy_id,
            headers={"event-type": "agency.referral", "correlation-id": routed.correlation_id},
        )
        await enqueue(
            conn,
            topic=DELIVERED_TOPIC,
            key=routed.patient_key,
            event=delivered,
            event_id=delivered.event_id,
            headers={"event-type": delivered.type, "correlation-id": routed.correlation_id},
        )
        log.info("assignment delivered", agency=assignment.agency_id)
