"""Access events: every read of a referral or a patient's records is itself recorded.

ISO 27789 asks who (client, organisation, role), which patient, what function
and when. The patient is named by pseudonymous key only.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.referral import Strict


class AccessRecorded(Strict):
    type: Literal["access.recorded"] = "access.recorded"
    version: int = 1
    event_id: UUID
    occurred_at: datetime
    producer: str
    correlation_id: str = Field(min_length=1, max_length=128)
    client_id: str
    organisation: str
    role: str
    function: str = Field(
        description="what was done, e.g. 'read referral', 'read audit trail by patient'"
    )
    outcome: Literal["granted", "refused"]
    referral_id: UUID | None = None
    patient_key: str | None = None
    detail: str | None = Field(default=None, max_length=500)
