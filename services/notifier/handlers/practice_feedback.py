"""Tell the referring organisation, on its own topic and by webhook if it chose one, every outcome that matters to it.

The feedback loop is what makes referral safe: a practice hears that its
patient was accepted, seen, sent back or never reached, with a structured
summary when the work is completed. The feedback always goes on the
referrer's ``practice.<ods>.feedback`` topic (the record audit reads); a
referrer whose system does not consume Kafka registers a webhook
(``/v1/referrers/{ods}/webhook``) and the same event is posted to it, signed,
with the agency webhooks' retries, breaker, pause and dead letter.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from schemas.events import AgencyOutcome, FeedbackSummary, PracticeFeedback
from schemas.ids import derived_event_id
from schemas.topics import practice_feedback
from schemas.vocabulary import OutcomeCode, ServiceType
from services.notifier.domain.envelope import following
from services.notifier.domain.feedback import (
    feedback_message,
    matters_to_referrer,
    rerouted_message,
)
from services.notifier.domain.outcomes import LifecycleEvent, SystemEvent
from services.notifier.domain.reference import service_name
from services.notifier.domain.webhooks.receivers import referrer_receiver
from services.notifier.store import webhooks as webhook_store
from signpost import terminology
from signpost.database import Conn
from signpost.outbox import enqueue

# The status a practice sees for events that are not the agency's own words.
_SYSTEM_STATUS = {
    SystemEvent.SLA_BREACHED: "escalated",
    SystemEvent.NO_CONTACT_TIMEOUT: "closed_no_contact",
}


async def tell_referrer(
    conn: Conn,
    delivery: dict[str, Any],
    event: LifecycleEvent,
    source_event_id: UUID,
    *,
    at: datetime,
    report: AgencyOutcome | None = None,
) -> None:
    if not matters_to_referrer(event):
        return
    service_type = ServiceType(delivery["service_type"])
    summary = FeedbackSummary(
        outcome=report.outcome if report else None,
        decline_reason=report.decline_reason if report else None,
        completion=report.completion if report else None,
        note=report.note if report else None,
        contacted_at=delivery["contacted_at"],
        completed_at=delivery["completed_at"],
    )
    name = service_name(delivery)
    feedback = PracticeFeedback(
        event_id=derived_event_id(source_event_id, "practice-feedback"),
        occurred_at=at,
        **following(delivery),
        practice_ods=delivery["referrer_ods"],
        assignment_id=delivery["assignment_id"],
        agency_id=delivery["agency_id"],
        service_type=service_type,
        status=event.value
        if isinstance(event, OutcomeCode)
        else _SYSTEM_STATUS.get(event, event.value),
        summary=summary,
        message=feedback_message(
            name,
            service_type,
            event,
            decline_reason=report.decline_reason if report else None,
            completion=report.completion if report else None,
            words=terminology.configured().for_network(delivery.get("network_id")),
        ),
    )
    await _send(conn, feedback, delivery["patient_key"])


async def tell_referrer_of_reroute(
    conn: Conn, delivery: dict[str, Any], *, at: datetime
) -> None:
    """A declined part went to another service: the referrer hears who has it now, once per new assignment.

    The decline itself was feedback already ("needs another service"); without this the referrer could not tell a
    referral that was passed on from one that is waiting for it to act.
    """
    service_type = ServiceType(delivery["service_type"])
    words = terminology.configured().for_network(delivery.get("network_id"))
    feedback = PracticeFeedback(
        event_id=derived_event_id(delivery["assignment_id"], "rerouted-feedback"),
        occurred_at=at,
        **following(delivery),
        practice_ods=delivery["referrer_ods"],
        assignment_id=delivery["assignment_id"],
        agency_id=delivery["agency_id"],
        service_type=service_type,
        status="rerouted",
        summary=FeedbackSummary(),
        message=rerouted_message(service_name(delivery), service_type, words=words),
    )
    await _send(conn, feedback, delivery["patient_key"])


async def _send(conn: Conn, feedback: PracticeFeedback, patient_key: str) -> None:
    """On the referrer's topic, and to its webhook if it has one: in this transaction."""
    await _by_webhook(conn, feedback, patient_key)
    await enqueue(
        conn,
        topic=practice_feedback(feedback.practice_ods),
        key=patient_key,
        event=feedback,
        event_id=feedback.event_id,
        headers={
            "event-type": feedback.type,
            "correlation-id": feedback.correlation_id,
        },
    )


async def _by_webhook(conn: Conn, feedback: PracticeFeedback, patient_key: str) -> None:
    """Queue the feedback for the referrer's webhook, if it has one: in this transaction, once per event id."""
    receiver = referrer_receiver(feedback.practice_ods)
    if not await webhook_store.hooked(conn, {receiver}):
        return
    await webhook_store.queue(
        conn,
        [
            (
                feedback.event_id,
                receiver,
                feedback.assignment_id,
                feedback.model_dump_json().encode(),
                None,
                patient_key,
            )
        ],
    )
