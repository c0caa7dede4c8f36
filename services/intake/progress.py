"""Keep intake's view of each referral's progress, from the events that follow it.

Intake owns the referral's status as the referrer sees it. It learns the
rest from Kafka, never from another service's tables.
"""

from collections.abc import Sequence

from pydantic import BaseModel

from schemas.events import AssignmentDelivered, ReferralRouted, any_event
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn

TOPICS = ("referral.routed", "assignment.delivered")
log = logs.get_logger()


def parse(raw: bytes) -> BaseModel:
    event: BaseModel = any_event.validate_json(raw)
    return event


async def handle(conn: Conn, batch: Sequence[Incoming[BaseModel]]) -> None:
    for item in batch:
        event = item.event
        if isinstance(event, ReferralRouted):
            await _routed(conn, event)
        elif isinstance(event, AssignmentDelivered):
            await conn.execute(
                "UPDATE referral_assignments SET status = 'offered', updated_at = now()"
                " WHERE assignment_id = $1 AND status = 'assigned'",
                event.assignment_id,
            )


async def _routed(conn: Conn, event: ReferralRouted) -> None:
    await conn.executemany(
        "INSERT INTO referral_assignments (assignment_id, referral_id, agency_id, service_id, service_type, status, reason)"
        " VALUES ($1, $2, $3, $4, $5, 'assigned', $6) ON CONFLICT (assignment_id) DO NOTHING",
        [
            (a.assignment_id, event.referral_id, a.agency_id, a.service_id, a.service_type.value, a.reason)
            for a in event.assignments
        ],
    )
    await conn.execute(
        "UPDATE referrals SET status = 'routed', updated_at = now() WHERE referral_id = $1 AND status = 'submitted'",
        event.referral_id,
    )
