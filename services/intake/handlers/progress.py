"""Keep intake's view of each referral's progress, from the events that follow it.

Intake owns the referral's status as the referrer sees it. It learns the
rest from Kafka, never from another service's tables.
"""

from collections.abc import Sequence
from uuid import UUID

from pydantic import BaseModel

from schemas.events import (
    AssignmentDelivered,
    OutcomeRecorded,
    ReferralEscalated,
    ReferralRouted,
    ReferralUnroutable,
    any_event,
)
from schemas.topics import (
    ASSIGNMENT_DELIVERED,
    ASSIGNMENT_OUTCOME,
    REFERRAL_ESCALATED,
    REFERRAL_ROUTED,
    REFERRAL_UNROUTABLE,
)
from services.intake.domain.assignments import FINISHED
from services.intake.store import assignments, referrals
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn

TOPICS = (
    REFERRAL_ROUTED,
    REFERRAL_UNROUTABLE,
    ASSIGNMENT_DELIVERED,
    ASSIGNMENT_OUTCOME,
    REFERRAL_ESCALATED,
)
log = logs.get_logger()


def parse(raw: bytes) -> BaseModel:
    event: BaseModel = any_event.validate_json(raw)
    return event


async def handle(conn: Conn, batch: Sequence[Incoming[BaseModel]]) -> None:
    for item in batch:
        event = item.event
        if isinstance(event, ReferralRouted):
            await assignments.add_routed(conn, event)
            await referrals.set_status(
                conn, event.referral_id, "routed", only_from=("submitted", "unroutable")
            )
        elif isinstance(event, ReferralUnroutable):
            await referrals.set_status(
                conn, event.referral_id, "unroutable", only_from=("submitted", "routed")
            )
        elif isinstance(event, AssignmentDelivered):
            await assignments.mark_offered(conn, event.assignment_id)
        elif isinstance(event, OutcomeRecorded):
            detail = event.completion or event.decline_reason
            await assignments.record_outcome(
                conn,
                event.assignment_id,
                event.outcome.value,
                detail.value if detail else None,
            )
            await _recompute(conn, event.referral_id)
        elif isinstance(event, ReferralEscalated):
            # The no-contact timer closes the assignment; the others only escalate it.
            status = (
                "closed_no_contact"
                if event.timer == "no_contact_close"
                else "escalated"
            )
            await assignments.mark_unfinished(
                conn, event.assignment_id, FINISHED, status
            )
            await _recompute(conn, event.referral_id)


async def _recompute(conn: Conn, referral_id: UUID) -> None:
    """Completed once no assignment is still open and at least one was completed; in progress once one is accepted."""
    row = await assignments.progress_counts(conn, referral_id, FINISHED)
    if row is None:
        return
    if row["open"] == 0 and row["completed"] > 0:
        await referrals.set_status(
            conn, referral_id, "completed", only_from=("routed", "in_progress")
        )
    elif row["active"] > 0:
        await referrals.set_status(
            conn, referral_id, "in_progress", only_from=("routed",)
        )
