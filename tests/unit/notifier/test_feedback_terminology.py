"""Feedback and escalations in each area's words: what the referrer and the coordinator read."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.vocabulary import OutcomeCode, ServiceType
from services.notifier.domain.escalation import escalation_reason
from services.notifier.domain.feedback import feedback_message
from services.notifier.domain.outcomes import LifecycleEvent, SystemEvent
from signpost import terminology
from signpost.terminology import Vocabulary

TERMS = terminology.load(Path(__file__).parents[3] / "deploy" / "areas")
DORSET, CROYDON = (
    TERMS.for_network("dorset-purbeck-hub"),
    TERMS.for_network("croydon-north"),
)
DUE = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)


def test_dorsets_virtual_ward_is_a_virtual_ward_to_the_practice() -> None:
    message = feedback_message(
        "Purbeck virtual ward",
        ServiceType.MDT_HUDDLE,
        OutcomeCode.ACCEPTED,
        words=DORSET,
    )
    assert message == "Purbeck virtual ward (virtual ward) accepted the referral."


def test_croydons_huddle_is_an_mdt_huddle_and_its_coordinator_a_network_facilitator() -> (
    None
):
    huddle = feedback_message(
        "MDT huddle, croydon-north",
        ServiceType.MDT_HUDDLE,
        OutcomeCode.ACCEPTED,
        words=CROYDON,
    )
    assert huddle == "MDT huddle, croydon-north (MDT huddle) accepted the referral."
    facilitator = feedback_message(
        "Croydon North",
        ServiceType.CARE_COORDINATOR,
        OutcomeCode.PATIENT_CONTACTED,
        words=CROYDON,
    )
    assert (
        facilitator == "Croydon North (network facilitator) has contacted the patient."
    )


def test_elsewhere_the_default_words() -> None:
    message = feedback_message(
        "Somewhere",
        ServiceType.CARE_COORDINATOR,
        OutcomeCode.ACCEPTED,
        words=TERMS.for_network("not-an-area-network"),
    )
    assert message == "Somewhere (care coordinator) accepted the referral."


@pytest.mark.parametrize("event", [*OutcomeCode, *SystemEvent])
def test_every_event_reads_in_the_areas_words(event: LifecycleEvent) -> None:
    dorset = feedback_message(
        "Purbeck hub", ServiceType.CARE_COORDINATOR, event, words=DORSET
    )
    croydon = feedback_message(
        "Purbeck hub", ServiceType.CARE_COORDINATOR, event, words=CROYDON
    )
    assert "(health and social care coordinator)" in dorset
    assert "(network facilitator)" in croydon


@pytest.mark.parametrize(
    ("service", "kind", "closing", "words", "expected"),
    [
        (
            "Purbeck virtual ward",
            ServiceType.MDT_HUDDLE,
            False,
            DORSET,
            "Purbeck virtual ward (virtual ward): not acted on in time (due 2026-11-18 11:00 UTC);"
            " the health and social care coordinator has been told",
        ),
        (
            "Pharmacy First at FA001",
            ServiceType.COMMUNITY_PHARMACY,
            True,
            CROYDON,
            "Pharmacy First at FA001 (community pharmacy): closed: the patient was not contacted in time;"
            " the GP practice must follow up (due 2026-11-18 11:00 UTC); the network facilitator has been told",
        ),
    ],
    ids=["dorset-breach", "croydon-closed"],
)
def test_an_escalation_names_the_service_and_the_coordinator_told_in_the_areas_words(
    service: str, kind: ServiceType, closing: bool, words: Vocabulary, expected: str
) -> None:
    assert (
        escalation_reason(
            service,
            kind,
            closing=closing,
            due_at=DUE,
            coordinator_told=True,
            words=words,
        )
        == expected
    )


def test_a_breach_with_no_coordinator_to_tell_does_not_claim_one_was_told() -> None:
    reason = escalation_reason(
        "Somewhere", ServiceType.PIC, closing=False, due_at=DUE, coordinator_told=False
    )
    assert (
        reason
        == "Somewhere (personal independence coordinator): not acted on in time (due 2026-11-18 11:00 UTC)"
    )


def test_a_reroute_tells_the_referrer_who_has_the_referral_now_in_the_areas_words() -> (
    None
):
    from services.notifier.domain.feedback import rerouted_message

    assert rerouted_message(
        "Purbeck virtual ward", ServiceType.MDT_HUDDLE, words=DORSET
    ) == (
        "After a decline the referral was passed on to Purbeck virtual ward (virtual ward)."
    )
    assert rerouted_message("Boots, High Street", ServiceType.COMMUNITY_PHARMACY) == (
        "After a decline the referral was passed on to Boots, High Street (community pharmacy)."
    )
