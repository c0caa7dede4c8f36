"""Events on Kafka: one envelope, one model per event type and version.

Every event carries a stable ``event_id`` (consumers deduplicate on it), the
``correlation_id`` from the original HTTP request, the ``journey_id`` that
ties every version of a referral together, and a pseudonymous
``patient_key`` used as the partition key. No event carries the NHS number
outside the referral body itself, and agency copies carry only what the
agency needs.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from schemas.referral import Referral, Strict
from schemas.vocabulary import ServiceType


class Envelope(Strict):
    event_id: UUID
    version: int = 1
    occurred_at: datetime
    correlation_id: str = Field(min_length=1, max_length=128)
    journey_id: UUID
    producer: str
    patient_key: str = Field(min_length=16, max_length=128, description="keyed hash, never the NHS number")
    referral_id: UUID


class ReferralSubmitted(Envelope):
    type: Literal["referral.submitted"] = "referral.submitted"
    referral: Referral


class Assignment(Strict):
    assignment_id: UUID
    service_id: str
    service_type: ServiceType
    agency_id: str
    rule_id: str
    reason: str


class ReferralRouted(Envelope):
    type: Literal["referral.routed"] = "referral.routed"
    rule_set_version: str
    assignments: tuple[Assignment, ...] = Field(min_length=1)
    # Carried so the notifier can build each agency's minimised copy without
    # reading another service's tables; this topic is readable by services only.
    referral: Referral


class AssignmentDelivered(Envelope):
    type: Literal["assignment.delivered"] = "assignment.delivered"
    assignment_id: UUID
    agency_id: str
    channel: Literal["kafka", "webhook"]


class AgencyReferral(Envelope):
    """What an agency receives on its own topic: one assignment, nothing about other agencies."""

    type: Literal["agency.referral"] = "agency.referral"
    assignment: Assignment
    referral: Referral


AnyEvent = Annotated[
    ReferralSubmitted | ReferralRouted | AssignmentDelivered | AgencyReferral,
    Field(discriminator="type"),
]
any_event: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
