"""What the referrer hears: every outcome, by service name, never the patient."""

import pytest

from schemas.vocabulary import (
    CompletionOutcome,
    DeclineReason,
    OutcomeCode,
    ServiceType,
)
from services.notifier.domain.feedback import (
    feedback_message,
    matters_to_referrer,
    referrer_must_act,
)
from services.notifier.domain.outcomes import LifecycleEvent, SystemEvent
from signpost.terminology import DEFAULT_LABELS

PHARMACY = ("Boots, High Street", ServiceType.COMMUNITY_PHARMACY)


@pytest.mark.parametrize(
    "event", [*OutcomeCode, SystemEvent.SLA_BREACHED, SystemEvent.NO_CONTACT_TIMEOUT]
)
def test_every_agency_outcome_and_every_fired_timer_is_news_to_the_referrer(
    event: LifecycleEvent,
) -> None:
    assert matters_to_referrer(event)


def test_the_referrers_own_cancellation_is_not_sent_back_to_them() -> None:
    assert not matters_to_referrer(SystemEvent.CANCELLED)


def test_each_event_has_its_own_message_naming_the_service_and_its_type() -> None:
    messages = {
        event: feedback_message(*PHARMACY, event)
        for event in [*OutcomeCode, *SystemEvent]
    }
    assert len(set(messages.values())) == len(messages)
    assert all(
        "Boots, High Street (community pharmacy)" in message
        for message in messages.values()
    )
    assert (
        messages[OutcomeCode.ACCEPTED]
        == "Boots, High Street (community pharmacy) accepted the referral."
    )


@pytest.mark.hazard("HAZ-017")
def test_a_decline_says_why_and_that_the_patient_needs_another_service() -> None:
    message = feedback_message(
        *PHARMACY,
        OutcomeCode.DECLINED,
        decline_reason=DeclineReason.NOT_AVAILABLE_IN_TIMESCALE,
    )
    assert message == (
        "Boots, High Street (community pharmacy) declined the referral: not available in the timescale."
        " The patient needs another service."
    )


@pytest.mark.parametrize(
    ("completion", "words"),
    [
        (CompletionOutcome.ADVICE_GIVEN, "advice given"),
        (CompletionOutcome.MEDICINE_SUPPLIED, "medicine supplied"),
        (
            CompletionOutcome.ONWARD_REFERRAL_OR_SIGNPOSTING,
            "onward referral or signposting",
        ),
        (
            CompletionOutcome.URGENT_ESCALATION,
            "urgent escalation; the practice needs to act",
        ),
    ],
)
def test_a_completion_says_how_it_ended(
    completion: CompletionOutcome, words: str
) -> None:
    assert feedback_message(
        *PHARMACY, OutcomeCode.COMPLETED, completion=completion
    ).endswith(f"completed the referral: {words}.")


@pytest.mark.parametrize(
    ("event", "completion", "must_act"),
    [
        (OutcomeCode.DECLINED, None, True),
        (OutcomeCode.DID_NOT_ATTEND, None, True),
        (OutcomeCode.ESCALATED_TO_GP, None, True),
        (SystemEvent.NO_CONTACT_TIMEOUT, None, True),
        (OutcomeCode.COMPLETED, CompletionOutcome.URGENT_ESCALATION, True),
        (OutcomeCode.COMPLETED, CompletionOutcome.ADVICE_GIVEN, False),
        (OutcomeCode.ACCEPTED, None, False),
        (OutcomeCode.PATIENT_CONTACTED, None, False),
        (SystemEvent.SLA_BREACHED, None, False),
    ],
)
def test_the_referrer_must_act_when_the_patient_comes_back_to_them(
    event: LifecycleEvent, completion: CompletionOutcome | None, must_act: bool
) -> None:
    assert referrer_must_act(event, completion) is must_act


def test_every_service_type_has_a_label() -> None:
    assert set(DEFAULT_LABELS) == set(ServiceType)
