"""The assignment lifecycle: which outcome may follow which, and why not when it may not.

An agency reports outcomes on its assignment; the notifier's timers and the
referrer's cancellation move it too. The legal moves are a table, so the rule
an agency runs into can be read here and quoted back to it word for word.

``escalated`` (an SLA timer breached) is the one state that does not say
where the assignment stood: an agency that never accepted may still accept or
decline late, one that had accepted may still report contact or completion,
but may not decline. Callers say which with ``accepted``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from schemas.vocabulary import OutcomeCode


class AssignmentState(StrEnum):
    DELIVERED = "delivered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    PATIENT_CONTACTED = "patient_contacted"
    COMPLETED = "completed"
    DID_NOT_ATTEND = "did_not_attend"
    ESCALATED_TO_GP = "escalated_to_gp"
    ESCALATED = "escalated"
    CLOSED_NO_CONTACT = "closed_no_contact"
    CANCELLED = "cancelled"


class SystemEvent(StrEnum):
    """What happens to an assignment without the agency saying so."""

    SLA_BREACHED = "sla_breached"
    NO_CONTACT_TIMEOUT = "no_contact_timeout"
    CANCELLED = "cancelled"


LifecycleEvent = OutcomeCode | SystemEvent

# Nothing further happens to an assignment in these states (intake's progress view agrees).
FINISHED: frozenset[AssignmentState] = frozenset(
    {
        AssignmentState.DECLINED,
        AssignmentState.COMPLETED,
        AssignmentState.DID_NOT_ATTEND,
        AssignmentState.ESCALATED_TO_GP,
        AssignmentState.CLOSED_NO_CONTACT,
        AssignmentState.CANCELLED,
    }
)
# States that can only be reached after the agency accepted.
_AFTER_ACCEPTANCE = frozenset(
    {
        AssignmentState.ACCEPTED,
        AssignmentState.PATIENT_CONTACTED,
        AssignmentState.COMPLETED,
        AssignmentState.DID_NOT_ATTEND,
    }
)

_WAITING_FOR_AGENCY: Mapping[LifecycleEvent, AssignmentState] = {
    OutcomeCode.ACCEPTED: AssignmentState.ACCEPTED,
    OutcomeCode.DECLINED: AssignmentState.DECLINED,
    OutcomeCode.ESCALATED_TO_GP: AssignmentState.ESCALATED_TO_GP,
    SystemEvent.SLA_BREACHED: AssignmentState.ESCALATED,
    SystemEvent.NO_CONTACT_TIMEOUT: AssignmentState.CLOSED_NO_CONTACT,
    SystemEvent.CANCELLED: AssignmentState.CANCELLED,
}
_ACCEPTED: Mapping[LifecycleEvent, AssignmentState] = {
    OutcomeCode.PATIENT_CONTACTED: AssignmentState.PATIENT_CONTACTED,
    OutcomeCode.COMPLETED: AssignmentState.COMPLETED,
    OutcomeCode.DID_NOT_ATTEND: AssignmentState.DID_NOT_ATTEND,
    OutcomeCode.ESCALATED_TO_GP: AssignmentState.ESCALATED_TO_GP,
    SystemEvent.SLA_BREACHED: AssignmentState.ESCALATED,
    SystemEvent.NO_CONTACT_TIMEOUT: AssignmentState.CLOSED_NO_CONTACT,
    SystemEvent.CANCELLED: AssignmentState.CANCELLED,
}
_PATIENT_CONTACTED: Mapping[LifecycleEvent, AssignmentState] = {
    OutcomeCode.COMPLETED: AssignmentState.COMPLETED,
    OutcomeCode.DID_NOT_ATTEND: AssignmentState.DID_NOT_ATTEND,
    OutcomeCode.ESCALATED_TO_GP: AssignmentState.ESCALATED_TO_GP,
    SystemEvent.CANCELLED: AssignmentState.CANCELLED,
}

TRANSITIONS: Mapping[AssignmentState, Mapping[LifecycleEvent, AssignmentState]] = {
    AssignmentState.DELIVERED: _WAITING_FOR_AGENCY,
    AssignmentState.ACCEPTED: _ACCEPTED,
    AssignmentState.PATIENT_CONTACTED: _PATIENT_CONTACTED,
    **{state: {} for state in FINISHED},
}
"""Legal moves from every state but ``escalated``, whose moves are in ``ESCALATED_TRANSITIONS``."""

# An escalated assignment takes whatever it could take before the breach, including a further breach.
ESCALATED_TRANSITIONS: Mapping[bool, Mapping[LifecycleEvent, AssignmentState]] = {
    False: _WAITING_FOR_AGENCY,
    True: _ACCEPTED,
}
"""Legal moves from ``escalated``, keyed by whether the agency had accepted before the breach."""


@dataclass(frozen=True)
class Transition:
    before: AssignmentState
    event: LifecycleEvent
    after: AssignmentState
    accepted: bool
    """Whether the agency has accepted, after this move; store it to answer ``apply(..., accepted=)`` later."""

    @property
    def finished(self) -> bool:
        return self.after in FINISHED


class IllegalTransition(Exception):
    """An outcome that cannot follow the assignment's current state; ``reason`` is fit to show the agency."""

    def __init__(
        self, state: AssignmentState, event: LifecycleEvent, reason: str
    ) -> None:
        super().__init__(reason)
        self.state = state
        self.event = event
        self.reason = reason


def legal_events(
    state: AssignmentState, *, accepted: bool | None = None
) -> Mapping[LifecycleEvent, AssignmentState]:
    """The events that may happen next, each with the state it leads to."""
    if state == AssignmentState.ESCALATED:
        if accepted is None:
            raise ValueError(
                "an escalated assignment's next moves depend on whether it was accepted; pass accepted="
            )
        return ESCALATED_TRANSITIONS[accepted]
    return TRANSITIONS[state]


def apply(
    state: AssignmentState, event: LifecycleEvent, *, accepted: bool | None = None
) -> Transition:
    """Move an assignment on by one event, or raise ``IllegalTransition`` saying why not.

    ``accepted`` is required only when ``state`` is ``escalated``; every other
    state already says whether the agency accepted.
    """
    was_accepted = (
        bool(accepted)
        if state == AssignmentState.ESCALATED
        else state in _AFTER_ACCEPTANCE
    )
    after = legal_events(state, accepted=accepted).get(event)
    if after is None:
        raise IllegalTransition(
            state, event, refusal(state, event, accepted=was_accepted)
        )
    return Transition(
        before=state,
        event=event,
        after=after,
        accepted=was_accepted or event is OutcomeCode.ACCEPTED,
    )


_FINISHED_PHRASES: Mapping[AssignmentState, str] = {
    AssignmentState.DECLINED: "assignment was declined",
    AssignmentState.COMPLETED: "assignment is completed",
    AssignmentState.DID_NOT_ATTEND: "assignment is closed because the patient did not attend",
    AssignmentState.ESCALATED_TO_GP: "assignment was escalated to the GP",
    AssignmentState.CLOSED_NO_CONTACT: "assignment was closed because the patient was not contacted in time",
    AssignmentState.CANCELLED: "assignment was cancelled by the referrer",
}
_NEEDS_ACCEPTANCE_FIRST: Mapping[LifecycleEvent, str] = {
    OutcomeCode.PATIENT_CONTACTED: "the patient was contacted",
    OutcomeCode.COMPLETED: "it was completed",
    OutcomeCode.DID_NOT_ATTEND: "the patient did not attend",
}


def refusal(state: AssignmentState, event: LifecycleEvent, *, accepted: bool) -> str:
    """Why ``event`` cannot follow ``state``, in words an agency's staff can act on."""
    if state in FINISHED:
        if event is SystemEvent.CANCELLED:
            return f"{_FINISHED_PHRASES[state]}; it can no longer be cancelled"
        if isinstance(event, SystemEvent):
            return f"{_FINISHED_PHRASES[state]}; its timers no longer apply"
        return f"{_FINISHED_PHRASES[state]}; no further outcomes are accepted"
    if event is OutcomeCode.DECLINED and accepted:
        return "cannot decline an assignment that was already accepted"
    if event is OutcomeCode.ACCEPTED and accepted:
        return "assignment was already accepted"
    if event in _NEEDS_ACCEPTANCE_FIRST and not accepted:
        return f"accept the assignment before reporting that {_NEEDS_ACCEPTANCE_FIRST[event]}"
    if state == AssignmentState.PATIENT_CONTACTED:
        if event is OutcomeCode.PATIENT_CONTACTED:
            return "contact with the patient was already reported"
        if event is SystemEvent.NO_CONTACT_TIMEOUT:
            return "the patient was already contacted; the assignment cannot be closed for no contact"
        if event is SystemEvent.SLA_BREACHED:
            return "the patient was already contacted; no SLA timer is running"
    return f"{event.value} cannot follow {state.value}"
