"""Cancel a referral: a new version with status cancelled, and a ``referral.cancelled`` event.

BaRS revokes rather than deletes: the referral and its earlier versions stay,
and every agency holding an assignment is told through the notifier.
"""

import uuid
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import ReferralCancelled
from schemas.topics import REFERRAL_CANCELLED
from services.intake.store import referrals
from signpost.database import Conn
from signpost.outbox import enqueue

# Once nothing more can happen to a referral, revoking it would rewrite history.
FINAL_STATUSES = frozenset({"completed", "cancelled"})


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1, max_length=500, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )


class CancelRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def cancel(
    conn: Conn, referral_id: UUID, reason: str, cancelled_by: str, correlation_id: str
) -> ReferralCancelled:
    """Within the caller's transaction: lock the referral, check it can still be cancelled, record and publish."""
    row = await referrals.lock_for_cancel(conn, referral_id)
    if row is None:
        raise CancelRefused(404, "no referral with that id is visible to this client")
    if row["status"] in FINAL_STATUSES:
        raise CancelRefused(
            409, f"the referral is {row['status']}; it can no longer be cancelled"
        )
    event = ReferralCancelled(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id=correlation_id,
        journey_id=row["journey_id"],
        producer="intake",
        patient_key=row["patient_key"],
        referral_id=referral_id,
        reason=reason,
        cancelled_by=cancelled_by,
    )
    await referrals.record_cancellation(conn, referral_id)
    await enqueue(
        conn,
        topic=REFERRAL_CANCELLED,
        key=event.patient_key,
        event=event,
        event_id=event.event_id,
        headers={"event-type": event.type, "correlation-id": correlation_id},
    )
    return event
