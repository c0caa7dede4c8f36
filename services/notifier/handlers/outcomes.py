"""Move an assignment on by one outcome, durably, and tell whoever needs to know.

Agencies report over HTTP or on their own outcomes topic, ``agency.<id>.outcomes``;
both land here. The broker's ACLs let only agency X write to ``agency.X.outcomes``,
so the topic name is the agency's identity. A report the state machine refuses
from the topic raises, and the shared consumer dead-letters it with the reason
for operations staff; the partition moves on. The
legal moves are the pure state machine's (``domain.outcomes``). This module
locks the assignment row, applies the move, clears the timers it stops, and
writes the ``assignment.outcome`` event and the referrer's feedback to the
outbox, all in the caller's transaction, so either everything happens or
nothing does.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from schemas.events import AgencyOutcome, OutcomeRecorded
from schemas.ids import derived_event_id
from schemas.topics import ASSIGNMENT_OUTCOME, agency_of_outcomes
from schemas.vocabulary import ServiceType
from services.notifier.domain import outcomes
from services.notifier.domain.envelope import following
from services.notifier.domain.outcomes import AssignmentState, IllegalTransition
from services.notifier.handlers.practice_feedback import tell_referrer
from services.notifier.store import outcomes as reports
from services.notifier.store.deliveries import lock_assignment, store_move
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import enqueue

log = logs.get_logger()


class Refusal(StrEnum):
    NOT_FOUND = "not_found"
    ILLEGAL = "illegal"


class OutcomeRefused(Exception):
    """The outcome was not recorded; ``reason`` is fit to show the agency."""

    def __init__(self, kind: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Recorded:
    assignment_id: str
    previous_state: str
    state: str
    repeat: bool
    """True when this report id had already been recorded: nothing new happened."""


async def record_outcome(
    conn: Conn, report: AgencyOutcome, *, agency_id: str, reported_by: str, channel: str
) -> Recorded:
    """Record one agency report, or raise ``OutcomeRefused``. An agency can only report on its own assignments."""
    delivery = await lock_assignment(conn, report.assignment_id)
    # Another agency's assignment is reported as not found: its existence is not theirs to learn.
    if delivery is None or delivery["agency_id"] != agency_id:
        raise OutcomeRefused(
            Refusal.NOT_FOUND,
            f"assignment {report.assignment_id} is not one of {agency_id}'s assignments",
        )
    earlier = await reports.earlier(conn, report.event_id)
    if earlier is not None:
        if earlier["assignment_id"] != report.assignment_id:
            raise OutcomeRefused(
                Refusal.ILLEGAL,
                f"report id {report.event_id} was already used for another assignment",
            )
        return Recorded(
            str(report.assignment_id),
            earlier["previous_state"],
            earlier["state"],
            repeat=True,
        )
    try:
        move = outcomes.apply(
            AssignmentState(delivery["state"]),
            report.outcome,
            accepted=delivery["accepted"],
        )
    except IllegalTransition as refused:
        raise OutcomeRefused(Refusal.ILLEGAL, refused.reason) from refused
    now = datetime.now(UTC)
    await store_move(conn, delivery, move, report.outcome, now)
    await reports.record(
        conn,
        report.event_id,
        report.assignment_id,
        report.outcome.value,
        move.before.value,
        move.after.value,
        reported_by,
        channel,
    )
    recorded = OutcomeRecorded(
        event_id=derived_event_id(report.event_id, "outcome-recorded"),
        occurred_at=report.occurred_at,
        **following(delivery),
        assignment_id=report.assignment_id,
        agency_id=agency_id,
        service_type=ServiceType(delivery["service_type"]),
        outcome=report.outcome,
        decline_reason=report.decline_reason,
        completion=report.completion,
        note=report.note,
        reported_by=reported_by,
        previous_state=move.before.value,
    )
    await enqueue(
        conn,
        topic=ASSIGNMENT_OUTCOME,
        key=delivery["patient_key"],
        event=recorded,
        event_id=recorded.event_id,
        headers={
            "event-type": recorded.type,
            "correlation-id": recorded.correlation_id,
        },
    )
    await tell_referrer(
        conn, delivery, report.outcome, recorded.event_id, report=report, at=now
    )
    log.info(
        "outcome recorded",
        agency=agency_id,
        outcome=report.outcome.value,
        state=move.after.value,
        channel=channel,
    )
    return Recorded(
        str(report.assignment_id), move.before.value, move.after.value, repeat=False
    )


def agency_of_topic(topic: str) -> str:
    agency = agency_of_outcomes(topic)
    if agency is None:
        raise ValueError(f"{topic} is not an agency outcomes topic")
    return agency


async def handle_outcomes(conn: Conn, batch: Sequence[Incoming[AgencyOutcome]]) -> None:
    for item in batch:
        agency = agency_of_topic(item.topic)
        with logs.handling(
            item.topic, item.headers, None, item.headers.get("correlation-id", "")
        ):
            await record_outcome(
                conn,
                item.event,
                agency_id=agency,
                reported_by=f"kafka:{item.topic}",
                channel="kafka",
            )
