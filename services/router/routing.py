"""The router's handler: a submitted referral in, a decision and its events out.

The decision itself is pure (``services.router.domain``); this module only
loads inputs, stores the decision and writes the events to the outbox, all
in the consumer's transaction.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from schemas.events import Assignment, ReferralRouted, ReferralSubmitted
from schemas.vocabulary import ServiceType
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import enqueue

ROUTED_TOPIC = "referral.routed"
RULE_SET_VERSION = "skeleton-1"
log = logs.get_logger()


def assignment_id(submitted_event_id: UUID, service_id: str) -> UUID:
    """Deterministic, so re-processing the same event yields the same assignment."""
    return uuid5(NAMESPACE_URL, f"signpost:assignment:{submitted_event_id}:{service_id}")


def derived_event_id(source_event_id: UUID, purpose: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"signpost:event:{source_event_id}:{purpose}")


def decide_skeleton(event: ReferralSubmitted) -> list[Assignment]:
    """Walking-skeleton rule: every referral goes to the demo community pharmacy."""
    service_id = "demo-pharmacy"
    return [
        Assignment(
            assignment_id=assignment_id(event.event_id, service_id),
            service_id=service_id,
            service_type=ServiceType.COMMUNITY_PHARMACY,
            agency_id="demo-pharmacy",
            rule_id="skeleton.all-to-pharmacy",
            reason="walking skeleton: every referral goes to the demo pharmacy",
        )
    ]


async def handle_submitted(conn: Conn, batch: Sequence[Incoming[ReferralSubmitted]]) -> None:
    for item in batch:
        with logs.handling(item.topic, item.headers, item.event.referral_id, item.event.correlation_id):
            await _route(conn, item.event)


async def _route(conn: Conn, event: ReferralSubmitted) -> None:
    assignments = decide_skeleton(event)
    routed = ReferralRouted(
        event_id=derived_event_id(event.event_id, "routed"),
        occurred_at=datetime.now(UTC),
        correlation_id=event.correlation_id,
        journey_id=event.journey_id,
        producer="router",
        patient_key=event.patient_key,
        referral_id=event.referral_id,
        rule_set_version=RULE_SET_VERSION,
        assignments=tuple(assignments),
        referral=event.referral,
    )
    await conn.execute(
        "INSERT INTO decisions (referral_id, submitted_event_id, patient_key, outcome, rule_set_version,"
        " explanation, referral) VALUES ($1, $2, $3, 'routed', $4, $5, $6)",
        event.referral_id,
        event.event_id,
        event.patient_key,
        RULE_SET_VERSION,
        "[" + ",".join(a.model_dump_json() for a in assignments) + "]",
        event.referral.model_dump_json(),
    )
    await conn.executemany(
        "INSERT INTO assignments (assignment_id, referral_id, service_id, service_type, agency_id, rule_id, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (a.assignment_id, event.referral_id, a.service_id, a.service_type.value, a.agency_id, a.rule_id, a.reason)
            for a in assignments
        ],
    )
    await enqueue(
        conn,
        topic=ROUTED_TOPIC,
        key=event.patient_key,
        event=routed,
        event_id=routed.event_id,
        headers={"event-type": routed.type, "correlation-id": routed.correlation_id},
    )
    log.info("referral routed", assignments=len(assignments))


def known_agencies() -> list[str]:
    """Agencies whose topics must exist before the router can assign to them."""
    return ["demo-pharmacy"]
