"""How intake's statuses read to a BaRS client: ServiceRequest.status for the referral, a Task per assignment."""

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from services.intake.domain.assignments import FINISHED, OPEN
from services.intake.domain.bars_status import (
    UnknownStatus,
    may_read,
    service_request_status,
    task_state,
)

# Every status intake writes on a referral: 'submitted' (store.record_submission), 'routed', 'unroutable',
# 'in_progress' and 'completed' (progress), 'cancelled' (cancel).
REFERRAL_STATUSES = (
    "submitted",
    "routed",
    "unroutable",
    "in_progress",
    "completed",
    "cancelled",
)
ASSIGNMENT_STATUSES = (*OPEN, *FINISHED)


@pytest.mark.parametrize("status", REFERRAL_STATUSES)
def test_every_referral_status_is_a_service_request_status_fhir_accepts(
    status: str,
) -> None:
    mapped = service_request_status(status)
    request = ServiceRequest(
        status=mapped, intent="plan", subject={"display": "a patient"}
    )
    assert request.status == mapped


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("submitted", "active"),
        ("routed", "active"),
        ("in_progress", "active"),
        ("unroutable", "active"),
        ("completed", "completed"),
        ("cancelled", "revoked"),
    ],
)
def test_open_referrals_are_active_a_cancelled_one_revoked_a_completed_one_completed(
    status: str, expected: str
) -> None:
    assert service_request_status(status) == expected


@pytest.mark.parametrize(
    "status", ["", "Completed", "closed", "entered-in-error", "active"]
)
def test_a_referral_status_intake_does_not_write_is_refused_not_guessed(
    status: str,
) -> None:
    with pytest.raises(UnknownStatus, match="referral status"):
        service_request_status(status)


@pytest.mark.parametrize("status", ASSIGNMENT_STATUSES)
def test_every_assignment_status_is_a_task_fhir_accepts_with_its_own_business_status(
    status: str,
) -> None:
    state = task_state(status, rerouted=False)
    task = Task(
        status=state.status,
        intent="order",
        businessStatus={
            "coding": [{"code": state.business_status, "display": state.display}]
        },
    )
    assert task.status == state.status
    assert state.display


def test_each_assignment_status_has_a_business_status_of_its_own() -> None:
    codes = [task_state(s, rerouted=False).business_status for s in ASSIGNMENT_STATUSES]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    ("status", "task_status", "business"),
    [
        ("assigned", "requested", "assigned"),
        ("offered", "requested", "offered"),
        ("accepted", "accepted", "accepted"),
        ("patient_contacted", "in-progress", "patient-contacted"),
        ("escalated", "requested", "overdue"),
        ("completed", "completed", "patient-seen"),
        ("escalated_to_gp", "completed", "escalated-to-gp"),
        ("did_not_attend", "failed", "did-not-attend"),
        ("closed_no_contact", "failed", "closed-no-contact"),
        ("declined", "rejected", "declined"),
        ("cancelled", "cancelled", "cancelled"),
    ],
)
@pytest.mark.hazard("HAZ-017")
def test_the_outcomes_a_referrer_needs_read_as_task_states(
    status: str, task_status: str, business: str
) -> None:
    state = task_state(status, rerouted=False)
    assert (state.status, state.business_status) == (task_status, business)


def test_a_declined_assignment_that_was_rerouted_says_so() -> None:
    state = task_state("declined", rerouted=True)
    assert (state.status, state.business_status) == ("rejected", "declined-rerouted")
    assert "another service" in state.display


@pytest.mark.parametrize(
    "status", ["", "Accepted", "rejected", "requested", "escalated-to-gp"]
)
def test_an_assignment_status_intake_does_not_write_is_refused_not_guessed(
    status: str,
) -> None:
    with pytest.raises(UnknownStatus, match="assignment status"):
        task_state(status, rerouted=False)


@pytest.mark.parametrize(
    ("role", "organisation", "allowed"),
    [
        ("referrer", "H81001", True),
        ("referrer", "H81002", False),
        ("operations", "SIGNPOST", True),
        ("agency", "FA001", False),
        (
            "agency",
            "H81001",
            True,
        ),  # an agency that referred reads its own referral, as over JSON
    ],
)
def test_only_the_referring_organisation_and_operations_read_the_referral(
    role: str, organisation: str, allowed: bool
) -> None:
    assert may_read(role, organisation, referrer_ods="H81001") is allowed


@pytest.mark.parametrize(
    "status", ["assigned", "offered", "accepted", "patient_contacted", "escalated"]
)
def test_an_assignment_still_open_when_the_referral_was_cancelled_reads_cancelled(
    status: str,
) -> None:
    # Intake never rewrites an assignment on a cancel; the referral's revocation ends every part still open.
    state = task_state(status, rerouted=False, referral_cancelled=True)
    assert (state.status, state.business_status) == ("cancelled", "cancelled")


@pytest.mark.parametrize(
    "status",
    ["completed", "did_not_attend", "declined", "escalated_to_gp", "closed_no_contact"],
)
def test_an_assignment_finished_before_the_cancel_keeps_its_outcome(
    status: str,
) -> None:
    assert task_state(status, rerouted=False, referral_cancelled=True) == task_state(
        status, rerouted=False
    )
