"""Record a read as an access event, in the reader's own outbox.

Reads are audited like writes: the access event goes through the same
outbox as every other event, so an access is recorded even if Kafka is
briefly away, and audit chains it with everything else.
"""

import uuid
from datetime import UTC, datetime
from uuid import UUID

from schemas.access import AccessRecorded
from schemas.topics import ACCESS
from signpost.clients import Principal
from signpost.database import Conn
from signpost.outbox import enqueue


async def record_access(
    conn: Conn,
    *,
    producer: str,
    principal: Principal,
    function: str,
    correlation_id: str,
    granted: bool,
    referral_id: UUID | None = None,
    patient_key: str | None = None,
    detail: str | None = None,
) -> None:
    event = AccessRecorded(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        client_id=principal.client_id,
        organisation=principal.organisation,
        role=principal.role,
        function=function,
        outcome="granted" if granted else "refused",
        referral_id=referral_id,
        patient_key=patient_key,
        detail=detail,
    )
    await enqueue(
        conn,
        topic=ACCESS,
        key=patient_key,
        event=event,
        event_id=event.event_id,
        headers={"event-type": event.type, "correlation-id": correlation_id},
    )
