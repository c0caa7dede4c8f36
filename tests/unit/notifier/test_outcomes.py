"""The assignment lifecycle: every state against every event, legal moves and the reason for each refusal."""

import pytest

from schemas.vocabulary import OutcomeCode
from services.notifier.domain.outcomes import (
    FINISHED,
    AssignmentState,
    IllegalTransition,
    LifecycleEvent,
    SystemEvent,
    Transition,
    apply,
    legal_events,
)

S = AssignmentState
EVENTS: list[LifecycleEvent] = [*OutcomeCode, *SystemEvent]

# Written out by hand from the design, not derived from the module's table.
WAITING: dict[LifecycleEvent, AssignmentState] = {
    OutcomeCode.ACCEPTED: S.ACCEPTED,
    OutcomeCode.DECLINED: S.DECLINED,
    OutcomeCode.ESCALATED_TO_GP: S.ESCALATED_TO_GP,
    SystemEvent.SLA_BREACHED: S.ESCALATED,
    SystemEvent.NO_CONTACT_TIMEOUT: S.CLOSED_NO_CONTACT,
    SystemEvent.CANCELLED: S.CANCELLED,
}
ACCEPTED: dict[LifecycleEvent, AssignmentState] = {
    OutcomeCode.PATIENT_CONTACTED: S.PATIENT_CONTACTED,
    OutcomeCode.COMPLETED: S.COMPLETED,
    OutcomeCode.DID_NOT_ATTEND: S.DID_NOT_ATTEND,
    OutcomeCode.ESCALATED_TO_GP: S.ESCALATED_TO_GP,
    SystemEvent.SLA_BREACHED: S.ESCALATED,
    SystemEvent.NO_CONTACT_TIMEOUT: S.CLOSED_NO_CONTACT,
    SystemEvent.CANCELLED: S.CANCELLED,
}
CONTACTED: dict[LifecycleEvent, AssignmentState] = {
    OutcomeCode.COMPLETED: S.COMPLETED,
    OutcomeCode.DID_NOT_ATTEND: S.DID_NOT_ATTEND,
    OutcomeCode.ESCALATED_TO_GP: S.ESCALATED_TO_GP,
    SystemEvent.CANCELLED: S.CANCELLED,
}

# (state, accepted-before-escalation) -> legal moves; None where the state itself says whether it was accepted.
LEGAL: dict[
    tuple[AssignmentState, bool | None], dict[LifecycleEvent, AssignmentState]
] = {
    (S.DELIVERED, None): WAITING,
    (S.ACCEPTED, None): ACCEPTED,
    (S.PATIENT_CONTACTED, None): CONTACTED,
    (S.ESCALATED, False): WAITING,
    (S.ESCALATED, True): ACCEPTED,
    **{
        (state, None): {} for state in sorted(FINISHED)
    },  # sorted: every xdist worker must collect the same order
}

NEEDS_ACCEPTANCE: dict[LifecycleEvent, str] = {
    OutcomeCode.PATIENT_CONTACTED: "accept the assignment before reporting that the patient was contacted",
    OutcomeCode.COMPLETED: "accept the assignment before reporting that it was completed",
    OutcomeCode.DID_NOT_ATTEND: "accept the assignment before reporting that the patient did not attend",
}
ALREADY_ACCEPTED: dict[LifecycleEvent, str] = {
    OutcomeCode.ACCEPTED: "assignment was already accepted",
    OutcomeCode.DECLINED: "cannot decline an assignment that was already accepted",
}
FINISHED_PHRASES = {
    S.DECLINED: "assignment was declined",
    S.COMPLETED: "assignment is completed",
    S.DID_NOT_ATTEND: "assignment is closed because the patient did not attend",
    S.ESCALATED_TO_GP: "assignment was escalated to the GP",
    S.CLOSED_NO_CONTACT: "assignment was closed because the patient was not contacted in time",
    S.CANCELLED: "assignment was cancelled by the referrer",
}


def expected_refusal(
    state: AssignmentState, accepted: bool | None, event: LifecycleEvent
) -> str:
    if state in FINISHED:
        endings: dict[LifecycleEvent, str] = {
            SystemEvent.CANCELLED: "it can no longer be cancelled",
            SystemEvent.SLA_BREACHED: "its timers no longer apply",
            SystemEvent.NO_CONTACT_TIMEOUT: "its timers no longer apply",
        }
        return f"{FINISHED_PHRASES[state]}; {endings.get(event, 'no further outcomes are accepted')}"
    if state is S.PATIENT_CONTACTED:
        contacted: dict[LifecycleEvent, str] = {
            **ALREADY_ACCEPTED,
            OutcomeCode.PATIENT_CONTACTED: "contact with the patient was already reported",
            SystemEvent.SLA_BREACHED: "the patient was already contacted; no SLA timer is running",
            SystemEvent.NO_CONTACT_TIMEOUT: "the patient was already contacted; the assignment cannot be closed for no contact",
        }
        return contacted[event]
    if state is S.ACCEPTED or accepted:
        return ALREADY_ACCEPTED[event]
    return NEEDS_ACCEPTANCE[event]


CASES = [(state, accepted, event) for (state, accepted) in LEGAL for event in EVENTS]
CASE_IDS = [
    f"{state}{'' if accepted is None else f'(accepted={accepted})'}-{event}"
    for state, accepted, event in CASES
]


def test_the_table_covers_every_state() -> None:
    assert {state for state, _ in LEGAL} == set(AssignmentState)


@pytest.mark.parametrize(("state", "accepted", "event"), CASES, ids=CASE_IDS)
def test_every_state_against_every_event(
    state: AssignmentState, accepted: bool | None, event: LifecycleEvent
) -> None:
    legal = LEGAL[state, accepted]
    if event in legal:
        transition = apply(state, event, accepted=accepted)
        assert (transition.before, transition.event, transition.after) == (
            state,
            event,
            legal[event],
        )
    else:
        with pytest.raises(IllegalTransition) as refused:
            apply(state, event, accepted=accepted)
        assert refused.value.reason == expected_refusal(state, accepted, event)
        assert (refused.value.state, refused.value.event) == (state, event)
        assert str(refused.value) == refused.value.reason


def test_the_briefs_two_examples_read_as_written() -> None:
    with pytest.raises(
        IllegalTransition,
        match=r"^cannot decline an assignment that was already accepted$",
    ):
        apply(S.ACCEPTED, OutcomeCode.DECLINED)
    with pytest.raises(
        IllegalTransition,
        match=r"^assignment is completed; no further outcomes are accepted$",
    ):
        apply(S.COMPLETED, OutcomeCode.PATIENT_CONTACTED)


def test_an_escalated_assignment_must_say_whether_it_was_accepted() -> None:
    with pytest.raises(ValueError, match="accepted="):
        apply(S.ESCALATED, OutcomeCode.ACCEPTED)


def test_accepted_is_ignored_outside_escalated_because_the_state_already_says() -> None:
    assert apply(S.DELIVERED, OutcomeCode.ACCEPTED, accepted=True).after is S.ACCEPTED
    with pytest.raises(IllegalTransition, match="already accepted"):
        apply(S.ACCEPTED, OutcomeCode.DECLINED, accepted=False)


def test_a_transition_says_whether_the_agency_has_accepted_so_far() -> None:
    assert apply(S.DELIVERED, OutcomeCode.ACCEPTED).accepted
    assert not apply(S.DELIVERED, SystemEvent.SLA_BREACHED).accepted
    assert apply(S.ACCEPTED, SystemEvent.SLA_BREACHED).accepted
    assert apply(S.ESCALATED, OutcomeCode.ACCEPTED, accepted=False).accepted
    assert apply(S.ESCALATED, SystemEvent.SLA_BREACHED, accepted=True).accepted
    assert not apply(S.DELIVERED, OutcomeCode.DECLINED).accepted


def test_finished_is_true_exactly_for_states_with_no_way_out() -> None:
    assert apply(S.PATIENT_CONTACTED, OutcomeCode.COMPLETED).finished
    assert not apply(S.DELIVERED, OutcomeCode.ACCEPTED).finished
    assert not apply(S.DELIVERED, SystemEvent.SLA_BREACHED).finished
    assert all(not legal_events(state) for state in FINISHED)


def test_a_pharmacy_first_referral_walks_from_delivery_to_completion() -> None:
    state, accepted = S.DELIVERED, False
    for event in (
        OutcomeCode.ACCEPTED,
        SystemEvent.SLA_BREACHED,
        OutcomeCode.PATIENT_CONTACTED,
        OutcomeCode.COMPLETED,
    ):
        transition: Transition = apply(state, event, accepted=accepted)
        state, accepted = transition.after, transition.accepted
    assert (state, accepted) == (S.COMPLETED, True)


def test_a_late_decline_after_an_unanswered_escalation_is_still_taken() -> None:
    escalated = apply(S.DELIVERED, SystemEvent.SLA_BREACHED)
    assert (
        apply(escalated.after, OutcomeCode.DECLINED, accepted=escalated.accepted).after
        is S.DECLINED
    )


@pytest.mark.hazard("HAZ-007")
def test_a_second_breach_keeps_an_assignment_escalated() -> None:
    assert (
        apply(S.ESCALATED, SystemEvent.SLA_BREACHED, accepted=False).after
        is S.ESCALATED
    )
