"""What the referrer is told about each outcome: the feedback loop that keeps referral safe.

A GP practice that sends a patient to a pharmacy must hear back whether the
patient was seen, sent back, or never turned up; so every agency outcome and
every timer that fires is news to the referrer. Only the referrer's own
cancellation is not. Messages name the service, never the patient, and read
in the words of the service's area (``words``: Dorset's "virtual ward" where
Croydon says "MDT huddle"), so each sentence is a template of that vocabulary.
"""

from collections.abc import Mapping

from schemas.vocabulary import (
    CompletionOutcome,
    DeclineReason,
    OutcomeCode,
    ServiceType,
)
from services.notifier.domain.outcomes import LifecycleEvent, SystemEvent
from signpost.terminology import DEFAULT, Vocabulary

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
    {
        OutcomeCode.DECLINED,
        OutcomeCode.DID_NOT_ATTEND,
        OutcomeCode.ESCALATED_TO_GP,
        SystemEvent.NO_CONTACT_TIMEOUT,
    }
)


def matters_to_referrer(event: LifecycleEvent) -> bool:
    """Every agency outcome and every fired timer; not the referrer's own cancellation."""
    return event is not SystemEvent.CANCELLED


def referrer_must_act(
    event: LifecycleEvent, completion: CompletionOutcome | None = None
) -> bool:
    """Whether the patient needs the referrer again: declined, not seen, sent back, or urgently escalated."""
    return event in _REFERRER_MUST_ACT or (
        event is OutcomeCode.COMPLETED
        and completion is CompletionOutcome.URGENT_ESCALATION
    )


def rerouted_message(
    service_name: str, service_type: ServiceType, *, words: Vocabulary = DEFAULT
) -> str:
    """What the referrer hears when a decline was rerouted: who has the referral now (BaRS: declined and rerouted)."""
    return words.text(
        "feedback_rerouted", who=words.service(service_name, service_type)
    )


def feedback_message(
    service_name: str,
    service_type: ServiceType,
    event: LifecycleEvent,
    *,
    decline_reason: DeclineReason | None = None,
    completion: CompletionOutcome | None = None,
    words: Vocabulary = DEFAULT,
) -> str:
    """One sentence or two for the referrer, e.g. "Boots, High Street (community pharmacy) accepted the referral."."""
    who = words.service(service_name, service_type)
    if event is OutcomeCode.DECLINED:
        because = f": {DECLINE_REASON_LABELS[decline_reason]}" if decline_reason else ""
        return words.text("feedback_declined", who=who, because=because)
    if event is OutcomeCode.COMPLETED:
        result = f": {COMPLETION_LABELS[completion]}" if completion else ""
        return words.text("feedback_completed", who=who, result=result)
    return words.text(f"feedback_{event.value}", who=who)
