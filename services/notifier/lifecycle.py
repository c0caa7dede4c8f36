"""Move an assignment on by one outcome, durably, and tell whoever needs to know.

Agencies report over HTTP or on their own outcomes topic; both land here. The
legal moves are the pure state machine's (``domain.outcomes``). This module
locks the assignment row, applies the move, clears the timers it stops, and
writes the ``assignment.outcome`` event and the referrer's feedback to the
outbox, all in the caller's transaction, so either everything happens or
nothing does.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from schemas.events import AgencyOutcome, OutcomeRecorded
from schemas.ids import derived_event_id
from schemas.vocabulary import OutcomeCode, ServiceType
from services.notifier.domain import outcomes, sla
from services.notifier.domain.outcomes import AssignmentState, IllegalTransition, LifecycleEvent
from services.notifier.envelope import following
from services.notifier.practice_feedback import tell_referrer
from signpost import logs, referral_lock
from signpost.database import Conn
from signpost.outbox import enqueue

OUTCOME_TOPIC = "assignment.outcome"
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


REFERRAL_LOCKS = 0x4E4F_5446  # the notifier's space of referral locks (signpost.referral_lock)


async def lock_referrals(conn: Conn, referral_ids: Iterable[UUID]) -> None:
    """Serialise a referral's cancellation with its deliveries: whichever comes second sees the first."""
    await referral_lock.lock_referrals(conn, REFERRAL_LOCKS, referral_ids)


async def cancelled_among(conn: Conn, referral_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these referrals their referrer has cancelled; call with their locks held."""
    rows = await conn.fetch("SELECT referral_id FROM cancellations WHERE referral_id = ANY($1::uuid[])", list(referral_ids))
    return {r["referral_id"] for r in rows}


async def lock_assignment(conn: Conn, assignment_id: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM deliveries WHERE assignment_id = $1 FOR UPDATE", assignment_id)
    return dict(row) if row else None


async def record_outcome(conn: Conn, report: AgencyOutcome, *, agency_id: str, reported_by: str, channel: str) -> Recorded:
    """Record one agency report, or raise ``OutcomeRefused``. An agency can only report on its own assignments."""
    delivery = await lock_assignment(conn, report.assignment_id)
    # Another agency's assignment is reported as not found: its existence is not theirs to learn.
    if delivery is None or delivery["agency_id"] != agency_id:
        raise OutcomeRefused(Refusal.NOT_FOUND, f"assignment {report.assignment_id} is not one of {agency_id}'s assignments")
    earlier = await conn.fetchrow(
        "SELECT assignment_id, previous_state, state FROM outcomes WHERE report_id = $1", report.event_id
    )
    if earlier is not None:
        if earlier["assignment_id"] != report.assignment_id:
            raise OutcomeRefused(Refusal.ILLEGAL, f"report id {report.event_id} was already used for another assignment")
        return Recorded(str(report.assignment_id), earlier["previous_state"], earlier["state"], repeat=True)
    try:
        move = outcomes.apply(AssignmentState(delivery["state"]), report.outcome, accepted=delivery["accepted"])
    except IllegalTransition as refused:
        raise OutcomeRefused(Refusal.ILLEGAL, refused.reason) from refused
    now = datetime.now(UTC)
    await store_move(conn, delivery, move, report.outcome, now)
    await conn.execute(
        "INSERT INTO outcomes (report_id, assignment_id, outcome, previous_state, state, reported_by, channel)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        report.event_id, report.assignment_id, report.outcome.value, move.before.value, move.after.value, reported_by, channel,
    )  # fmt: skip
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
        topic=OUTCOME_TOPIC,
        key=delivery["patient_key"],
        event=recorded,
        event_id=recorded.event_id,
        headers={"event-type": recorded.type, "correlation-id": recorded.correlation_id},
    )
    await tell_referrer(conn, delivery, report.outcome, recorded.event_id, report=report, at=now)
    log.info("outcome recorded", agency=agency_id, outcome=report.outcome.value, state=move.after.value, channel=channel)
    return Recorded(str(report.assignment_id), move.before.value, move.after.value, repeat=False)


async def store_move(
    conn: Conn, delivery: dict[str, Any], move: outcomes.Transition, event: LifecycleEvent, now: datetime
) -> None:
    contacted = now if event is OutcomeCode.PATIENT_CONTACTED else delivery["contacted_at"]
    completed = now if move.after is AssignmentState.COMPLETED else delivery["completed_at"]
    await conn.execute(
        "UPDATE deliveries SET state = $2, accepted = $3, contacted_at = $4, completed_at = $5, updated_at = $6"
        " WHERE assignment_id = $1",
        delivery["assignment_id"], move.after.value, move.accepted, contacted, completed, now,
    )  # fmt: skip
    delivery.update(state=move.after.value, accepted=move.accepted, contacted_at=contacted, completed_at=completed)
    cleared = sla.timers_cleared_by(event)
    if cleared:
        await conn.execute(
            "UPDATE sla_timers SET cleared_at = $3 WHERE assignment_id = $1 AND name = ANY($2::text[])"
            " AND cleared_at IS NULL AND fired_at IS NULL",
            delivery["assignment_id"], [name.value for name in cleared], now,
        )  # fmt: skip
