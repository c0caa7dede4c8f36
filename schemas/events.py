"""Events on Kafka: one envelope, one model per event type and version.

Every event carries a stable ``event_id`` (consumers deduplicate on it), the
``correlation_id`` from the original HTTP request, the ``journey_id`` that
ties every version of a referral together, and a pseudonymous
``patient_key`` used as the partition key. No event carries the NHS number
outside the referral body itself, and agency copies carry only what the
agency needs.

Two kinds of message travel without the envelope: what an agency writes
back (``AgencyOutcome``; the agency knows the assignment, not our journey)
and dead letters (``DeadLettered``; the original record may have had no
envelope at all) and their replays. ``schemas.version`` lists every event with its topics.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from schemas.access import AccessRecorded
from schemas.clock import judged_on, london_date
from schemas.outcomes import outcome_detail_json_schema, refuse_inconsistent_outcome
from schemas.referral import ODS_CODE_PATTERN, Patient, Referral, Referrer, Strict
from schemas.text import MULTI_LINE, SINGLE_LINE, Text
from schemas.vocabulary import (
    CompletionOutcome,
    DeclineReason,
    Need,
    OutcomeCode,
    RedFlag,
    ServiceType,
    Urgency,
)


def _judged_on_event_date(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> Referral:
    """A referral inside an event is judged on the event's date, so history parses the same on any later day."""
    occurred_at = info.data.get("occurred_at")
    if not isinstance(occurred_at, datetime):
        referral: Referral = handler(value)
        return referral
    with judged_on(london_date(occurred_at)):
        referral = handler(value)
        return referral


EventReferral = Annotated[Referral, WrapValidator(_judged_on_event_date)]
Note = Annotated[str, Field(max_length=2000), MULTI_LINE]


class Envelope(Strict):
    event_id: UUID
    version: int = 1
    occurred_at: datetime
    correlation_id: str = Field(min_length=1, max_length=128)
    journey_id: UUID
    producer: str
    patient_key: str = Field(
        min_length=16, max_length=128, description="keyed hash, never the NHS number"
    )
    referral_id: UUID


class ReferralSubmitted(Envelope):
    type: Literal["referral.submitted"] = "referral.submitted"
    referral: EventReferral
    untraced: bool = Field(
        default=False,
        description="the patient came without a traced NHS number: matched by local id or demographics",
    )
    # How a link reaches audit: the referral that travels under a traced key names the demographic key it now
    # stands for, so a trail under either key finds the other (README, "How patients are matched").
    linked_patient_keys: tuple[
        Annotated[str, Field(min_length=16, max_length=128)], ...
    ] = Field(
        default=(),
        max_length=8,
        description="earlier keys of this patient that patient_key now stands for (an untraced patient's demographic "
        "key, linked when a referral with a traced NHS number and the same demographics arrived); empty before 2.6.0",
    )


class Assignment(Strict):
    assignment_id: UUID
    service_id: str
    service_type: ServiceType
    agency_id: str
    rule_id: str
    reason: Text
    network_id: str | None = Field(
        default=None,
        description="the integrated care network (or hub) the service belongs to",
    )
    needs: tuple[Need, ...] = Field(
        default=(), description="the referral's needs this assignment covers"
    )
    replaces_assignment_id: UUID | None = Field(
        default=None,
        description="set when rerouting after this earlier one was declined",
    )


class ServiceContext(Strict):
    """An assigned service as the directory described it when the referral was routed."""

    name: str = Field(min_length=1, max_length=200)
    coordinator_agency_id: str | None = Field(
        default=None,
        description="the agency of the care coordinator of the service's network, told of SLA breaches",
    )


class ReferralRouted(Envelope):
    type: Literal["referral.routed"] = "referral.routed"
    rule_set_version: str
    assignments: tuple[Assignment, ...] = Field(min_length=1)
    # Carried so the notifier names the service and finds the coordinator from the directory the router used,
    # not from seed files of its own that a `signpost directory load` elsewhere leaves behind.
    services: dict[str, ServiceContext] = Field(
        default_factory=dict,
        description="service id -> its name and network coordinator when routed (empty before 2.2.0)",
    )
    # Carried so the notifier can build each agency's minimised copy without
    # reading another service's tables; this topic is readable by services only.
    referral: EventReferral
    notes_to_referrer: tuple[
        Annotated[str, Field(max_length=500), SINGLE_LINE], ...
    ] = Field(
        default=(),
        description="what the referrer should know, e.g. 'chosen pharmacy closed; sent to FA002'",
    )


class ReferralUnroutable(Envelope):
    """No service can take the referral; operations staff work these from a queue."""

    type: Literal["referral.unroutable"] = "referral.unroutable"
    rule_set_version: str
    reason: Text = Field(max_length=2000)
    referral: EventReferral
    declined_by: tuple[str, ...] = Field(
        default=(), description="agencies that declined before nobody was left"
    )


class AssignmentDelivered(Envelope):
    type: Literal["assignment.delivered"] = "assignment.delivered"
    assignment_id: UUID
    agency_id: str
    channel: Literal["kafka", "webhook"]


class AgencyCase(Strict):
    """The part of a referral one agency needs, and no more (UK GDPR data minimisation).

    Who the patient is and how to reach them, who referred, the needs this
    agency is asked to meet, the red flags that bear on its work, and the
    referrer's notes when this agency's part is the whole referral. Other
    agencies' needs, consent bookkeeping and a pharmacy choice meant for
    someone else stay behind. ``schemas.minimise`` decides each field.
    """

    referrer: Referrer
    patient: Patient
    needs: tuple[Need, ...] = Field(
        min_length=1, description="only the needs this agency is asked to meet"
    )
    red_flags: tuple[RedFlag, ...] = Field(
        default=(), description="only the warning signs that bear on this service"
    )
    urgency: Urgency
    chosen_pharmacy_ods: str | None = Field(
        default=None,
        pattern=ODS_CODE_PATTERN,
        description="community pharmacies only: the patient's choice",
    )
    notes: Annotated[str, Field(max_length=4000), MULTI_LINE] | None = Field(
        default=None,
        description="the referrer's notes, only for an agency asked to meet every need (or the huddle and coordinator)",
    )


class AgencyReferral(Envelope):
    """What an agency receives on its own topic: one assignment and a minimised case, nothing about other agencies."""

    type: Literal["agency.referral"] = "agency.referral"
    version: int = 2
    assignment: Assignment
    referral: AgencyCase


class AgencyOutcome(Strict):
    """What an agency writes on its own outcomes topic (or POSTs): an outcome for one of its assignments."""

    model_config = ConfigDict(json_schema_extra=outcome_detail_json_schema())

    type: Literal["agency.outcome"] = "agency.outcome"
    version: int = 1
    event_id: UUID = Field(
        description="the agency's own id for this report; a repeat is ignored"
    )
    assignment_id: UUID
    outcome: OutcomeCode
    decline_reason: DeclineReason | None = Field(
        default=None, description="required when declined, otherwise absent"
    )
    completion: CompletionOutcome | None = Field(
        default=None, description="required when completed, otherwise absent"
    )
    note: Note | None = None
    occurred_at: datetime

    @model_validator(mode="after")
    def _detail_fits_outcome(self) -> "AgencyOutcome":
        refuse_inconsistent_outcome(self.outcome, self.decline_reason, self.completion)
        return self


class OutcomeRecorded(Envelope):
    """An agency's outcome, checked against the assignment it concerns and accepted into its history."""

    model_config = ConfigDict(json_schema_extra=outcome_detail_json_schema())

    type: Literal["assignment.outcome"] = "assignment.outcome"
    assignment_id: UUID
    agency_id: str
    service_type: ServiceType
    outcome: OutcomeCode
    decline_reason: DeclineReason | None = None
    completion: CompletionOutcome | None = None
    note: Note | None = None
    reported_by: str = Field(description="client id of the system that reported it")
    previous_state: str = Field(
        description="the assignment's state before this outcome"
    )

    @model_validator(mode="after")
    def _detail_fits_outcome(self) -> "OutcomeRecorded":
        refuse_inconsistent_outcome(self.outcome, self.decline_reason, self.completion)
        return self


class ReferralEscalated(Envelope):
    """A timer ran out on an assignment (no contact, no outcome) and people were told."""

    type: Literal["referral.escalated"] = "referral.escalated"
    assignment_id: UUID
    agency_id: str
    network_id: str | None = None
    timer: str = Field(description="which timer ran out, e.g. 'first_contact'")
    due_at: datetime
    reason: Text = Field(max_length=2000)
    notify: tuple[str, ...] = Field(
        default=(), description="ODS codes and agency ids told about it"
    )


class ReferralCancelled(Envelope):
    """The referrer revoked the referral (BaRS: cancel is revoke, never delete)."""

    type: Literal["referral.cancelled"] = "referral.cancelled"
    reason: Annotated[str, MULTI_LINE] = Field(min_length=1, max_length=500)
    cancelled_by: str = Field(description="client id of whoever cancelled")


class FeedbackSummary(Strict):
    """The clinical part of practice feedback, in the agency's coded terms."""

    model_config = ConfigDict(json_schema_extra=outcome_detail_json_schema())

    outcome: OutcomeCode | None = None
    decline_reason: DeclineReason | None = None
    completion: CompletionOutcome | None = None
    note: Note | None = None
    contacted_at: datetime | None = None
    completed_at: datetime | None = None

    @model_validator(mode="after")
    def _detail_fits_outcome(self) -> "FeedbackSummary":
        if self.outcome is not None:
            refuse_inconsistent_outcome(
                self.outcome, self.decline_reason, self.completion
            )
        return self


class PracticeFeedback(Envelope):
    """What the referring practice receives on its own topic: the feedback loop that keeps the service safe."""

    type: Literal["practice.feedback"] = "practice.feedback"
    practice_ods: str = Field(pattern=ODS_CODE_PATTERN)
    assignment_id: UUID | None = None
    agency_id: str | None = None
    service_type: ServiceType | None = None
    status: str = Field(
        description="accepted, declined, completed, escalated, unroutable, rerouted, closed_no_contact, ...",
    )
    summary: FeedbackSummary | None = None
    message: Annotated[str, MULTI_LINE] = Field(
        max_length=2000, description="human readable, for the practice's worklist"
    )


class DeadLettered(Strict):
    """A record a consumer could not handle, as ``signpost.consumer.dead_letter`` writes it; replayable as is."""

    type: Literal["event.dead_lettered"] = "event.dead_lettered"
    version: int = 1
    event_id: UUID = Field(
        description="stable per source record (topic, partition, offset)"
    )
    occurred_at: datetime
    consumer: str
    original_topic: str
    original_partition: int
    original_offset: int
    # Free of the text rules on purpose: a reason or header may quote whatever the bad record held.
    reason: str = Field(max_length=2000)
    payload_base64: str | None = Field(
        default=None,
        description="the original record; null when it was too large to travel (see payload_kept_by)",
    )
    payload_sha256: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="sha256 of the original record",
    )
    payload_bytes: int | None = Field(
        default=None, ge=0, description="the original record's size in bytes"
    )
    payload_kept_by: str | None = Field(
        default=None,
        max_length=63,
        description="the schema of the consumer that keeps the original (its dead_letter_bodies table) when it was"
        " too large to travel here; the letter stays under the producer's limit whatever it carries",
    )
    headers: dict[str, str]

    @model_validator(mode="after")
    def _carries_or_names_the_original(self) -> "DeadLettered":
        if self.payload_base64 is None and self.payload_kept_by is None:
            raise ValueError(
                "a dead letter carries its original (payload_base64) or names who keeps it (payload_kept_by)"
            )
        return self


class DeadLetterReplayed(Strict):
    """Operations staff put a dead record back on its topic; every dead letter of that record is now marked replayed."""

    type: Literal["dead_letter.replayed"] = "dead_letter.replayed"
    version: int = 1
    event_id: UUID = Field(
        description="one per replay: a forced second replay of the same record is a new event"
    )
    occurred_at: datetime
    correlation_id: str = Field(min_length=1, max_length=128)
    dead_letter_id: UUID = Field(
        description="the dead letter that was asked to be replayed"
    )
    dead_letter_ids: list[UUID] = Field(
        min_length=1, description="every dead letter of the same record, now replayed"
    )
    original_topic: str
    original_partition: int
    original_offset: int
    replay: int = Field(
        ge=1,
        description="1 for the first replay of the record, 2 for the first forced one, ...",
    )
    forced: bool
    replayed_by: str = Field(
        min_length=1,
        max_length=100,
        description="the client that asked (operations staff)",
    )
    referral_id: UUID | None = None
    patient_key: str | None = Field(
        default=None,
        max_length=128,
        description="the record's own key, when it had one",
    )


AnyEvent = Annotated[
    ReferralSubmitted
    | ReferralRouted
    | ReferralUnroutable
    | AssignmentDelivered
    | AgencyReferral
    | AgencyOutcome
    | OutcomeRecorded
    | ReferralEscalated
    | ReferralCancelled
    | PracticeFeedback
    | DeadLettered
    | DeadLetterReplayed
    | AccessRecorded,
    Field(discriminator="type"),
]
any_event: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
