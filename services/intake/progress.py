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
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn

TOPICS = ("referral.routed", "referral.unroutable", "assignment.delivered", "assignment.outcome", "referral.escalated")
# Assignment states after which nothing more happens to that assignment.
FINISHED = ("declined", "completed", "did_not_attend", "closed_no_contact", "cancelled", "escalated_to_gp")
# States in which the agency still has work to do: routed to it, delivered, taken on, or late (an SLA breach
# leaves it open). Every other state, and any state added later until it is listed here, is closed to the agency.
OPEN = ("assigned", "offered", "accepted", "patient_contacted", "escalated")
log = logs.get_logger()


def parse(raw: bytes) -> BaseModel:
    event: BaseModel = any_event.validate_json(raw)
    return event


async def handle(conn: Conn, batch: Sequence[Incoming[BaseModel]]) -> None:
    for item in batch:
        event = item.event
        if isinstance(event, ReferralRouted):
            await _routed(conn, event)
        elif isinstance(event, ReferralUnroutable):
            await _set_referral_status(conn, event.referral_id, "unroutable", only_from=("submitted", "routed"))
        elif isinstance(event, AssignmentDelivered):
            await conn.execute(
                "UPDATE referral_assignments SET status = 'offered', updated_at = now()"
                " WHERE assignment_id = $1 AND status = 'assigned'",
                event.assignment_id,
            )
        elif isinstance(event, OutcomeRecorded):
            detail = event.completion or event.decline_reason
            await conn.execute(
                "UPDATE referral_assignments SET status = $2, outcome_detail = $3, updated_at = now() WHERE assignment_id = $1",
                event.assignment_id,
                event.outcome.value,
                detail.value if detail else None,
            )
            await _recompute(conn, event.referral_id)
        elif isinstance(event, ReferralEscalated):
            # The no-contact timer closes the assignment; the others only escalate it.
            status = "closed_no_contact" if event.timer == "no_contact_close" else "escalated"
            await conn.execute(
                "UPDATE referral_assignments SET status = $3, updated_at = now()"
                " WHERE assignment_id = $1 AND NOT status = ANY($2::text[])",
                event.assignment_id,
                list(FINISHED),
                status,
            )
            await _recompute(conn, event.referral_id)


async def _routed(conn: Conn, event: ReferralRouted) -> None:
    await conn.executemany(
        "INSERT INTO referral_assignments"
        " (assignment_id, referral_id, agency_id, service_id, service_type, status, reason, replaces_assignment_id, needs)"
        " VALUES ($1, $2, $3, $4, $5, 'assigned', $6, $7, $8) ON CONFLICT (assignment_id) DO NOTHING",
        [
            (
                a.assignment_id,
                event.referral_id,
                a.agency_id,
                a.service_id,
                a.service_type.value,
                a.reason,
                a.replaces_assignment_id,
                [n.value for n in a.needs],
            )
            for a in event.assignments
        ],
    )
    await _set_referral_status(conn, event.referral_id, "routed", only_from=("submitted", "unroutable"))


async def _recompute(conn: Conn, referral_id: UUID) -> None:
    """Completed once no assignment is still open and at least one was completed; in progress once one is accepted."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE NOT status = ANY($2::text[])) AS open,"
        " count(*) FILTER (WHERE status = 'completed') AS completed,"
        " count(*) FILTER (WHERE status IN ('accepted', 'patient_contacted')) AS active"
        " FROM referral_assignments WHERE referral_id = $1",
        referral_id,
        list(FINISHED),
    )
    if row is None:
        return
    if row["open"] == 0 and row["completed"] > 0:
        await _set_referral_status(conn, referral_id, "completed", only_from=("routed", "in_progress"))
    elif row["active"] > 0:
        await _set_referral_status(conn, referral_id, "in_progress", only_from=("routed",))


async def _set_referral_status(conn: Conn, referral_id: UUID, status: str, only_from: tuple[str, ...]) -> None:
    await conn.execute(
        "UPDATE referrals SET status = $2, updated_at = now() WHERE referral_id = $1 AND status = ANY($3::text[])",
        referral_id,
        status,
        list(only_from),
    )
