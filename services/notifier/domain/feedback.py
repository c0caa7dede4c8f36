"""What the referrer is told about each outcome: the feedback loop that keeps referral safe.

A GP practice that sends a patient to a pharmacy must hear back whether the
patient was seen, sent back, or never turned up; so every agency outcome and
every timer that fires is news to the referrer. Only the referrer's own
cancellation is not. Messages name the service, never the patient.
"""

from collections.abc import Mapping

from schemas.vocabulary import CompletionOutcome, DeclineReason, OutcomeCode, ServiceType
from services.notifier.domain.outcomes import LifecycleEvent, SystemEvent

# Default words; a Dorset deployment may say "hub" where Croydon says "network", so callers can pass their own.
SERVICE_TYPE_LABELS: Mapping[ServiceType, str] = {
    ServiceType.ICN_PHARMACIST: "ICN pharmacist",
    ServiceType.PIC: "personal independence coordinator",
    ServiceType.SOCIAL_SERVICES: "social services",
    ServiceType.COMMUNITY_NURSING: "community nursing",
    ServiceType.OCCUPATIONAL_THERAPY: "occupational therapy",
    ServiceType.PHYSIOTHERAPY: "physiotherapy",
    ServiceType.MENTAL_HEALTH: "mental health",
    ServiceType.COMMUNITY_PHARMACY: "community pharmacy",
    ServiceType.MDT_HUDDLE: "MDT huddle",
    ServiceType.CARE_COORDINATOR: "care coordinator",
}

DECLINE_REASON_LABELS: Mapping[DeclineReason, str] = {
    DeclineReason.NOT_AVAILABLE_IN_TIMESCALE: "not available in the timescale",
    DeclineReason.NOT_APPROPRIATE: "not appropriate for this service",
    DeclineReason.PATIENT_DECLINED: "the patient declined",
    DeclineReason.OTHER: "another reason",
}

COMPLETION_LABELS: Mapping[CompletionOutcome, str] = {
    CompletionOutcome.ADVICE_GIVEN: "advice given",
    CompletionOutcome.MEDICINE_SUPPLIED: "medicine supplied",
    CompletionOutcome.ONWARD_REFERRAL_OR_SIGNPOSTING: "onward referral or signposting",
    CompletionOutcome.URGENT_ESCALATION: "urgent escalation; the practice needs to act",
}

# Outcomes after which the patient is back in the referrer's hands.
_REFERRER_MUST_ACT: frozenset[LifecycleEvent] = frozenset(
    {OutcomeCode.DECLINED, OutcomeCode.DID_NOT_ATTEND, OutcomeCode.ESCALATED_TO_GP, SystemEvent.NO_CONTACT_TIMEOUT}
)


def matters_to_referrer(event: LifecycleEvent) -> bool:
    """Every agency outcome and every fired timer; not the referrer's own cancellation."""
    return event is not SystemEvent.CANCELLED


def referrer_must_act(event: LifecycleEvent, completion: CompletionOutcome | None = None) -> bool:
    """Whether the patient needs the referrer again: declined, not seen, sent back, or urgently escalated."""
    return event in _REFERRER_MUST_ACT or (event is OutcomeCode.COMPLETED and completion is CompletionOutcome.URGENT_ESCALATION)


def feedback_message(
    service_name: str,
    service_type: ServiceType,
    event: LifecycleEvent,
    *,
    decline_reason: DeclineReason | None = None,
    completion: CompletionOutcome | None = None,
    labels: Mapping[ServiceType, str] = SERVICE_TYPE_LABELS,
) -> str:
    """One sentence or two for the referrer, e.g. "Boots, High Street (community pharmacy) accepted the referral."."""
    who = f"{service_name} ({labels.get(service_type, service_type.value.replace('_', ' '))})"
    if event is OutcomeCode.ACCEPTED:
        return f"{who} accepted the referral."
    if event is OutcomeCode.DECLINED:
        because = f": {DECLINE_REASON_LABELS[decline_reason]}" if decline_reason else ""
        return f"{who} declined the referral{because}. The patient needs another service."
    if event is OutcomeCode.PATIENT_CONTACTED:
        return f"{who} has contacted the patient."
    if event is OutcomeCode.COMPLETED:
        result = f": {COMPLETION_LABELS[completion]}" if completion else ""
        return f"{who} completed the referral{result}."
    if event is OutcomeCode.DID_NOT_ATTEND:
        return f"{who} reports that the patient did not attend. The patient may need following up."
    if event is OutcomeCode.ESCALATED_TO_GP:
        return f"{who} has escalated the patient back to the GP for action."
    if event is SystemEvent.SLA_BREACHED:
        return f"{who} has not responded within the agreed time; the referral has been escalated."
    if event is SystemEvent.NO_CONTACT_TIMEOUT:
        return f"{who} did not contact the patient in time, so the referral is closed. The patient needs following up."
    return f"The referral to {who} was cancelled."
