"""How a referral's progress reads to a GP system that speaks BaRS: ServiceRequest.status and one Task per assignment.

Intake keeps the referral's status as the referrer sees it (``handlers.progress``,
``api.cancellation``) and each assignment's state as the agency last reported it.
A BaRS client reads the first as ``ServiceRequest.status`` and the second as
a ``Task`` that is ``basedOn`` the ServiceRequest. Every status intake
writes is mapped here, by hand, with its reason; a status that is not
listed is refused (``UnknownStatus``) rather than guessed at, so a new state
added to intake fails its tests until someone decides what it means here.

Sources for the referral (``ServiceRequest.status``, FHIR R4 request-status):

- BaRS Application 5 (GP to Pharmacy First), "How does it work": a new
  referral is sent with ``ServiceRequest.status = active``, and a sender
  checks before cancelling that the receiver's copy "does not already have a
  status of revoked or completed". Cancelling is an update to ``revoked``.
- BaRS responses (Application 6, "Referral Response (Status update)"): the
  ServiceRequest "maintains the active state of the referral", so it stays
  ``active`` while the receiver works on it: routed, taken on, or waiting in
  operations' unroutable queue for hand assignment (not final in intake:
  ``handlers.progress`` routes an unroutable referral again).
- FHIR R4 request-status: ``completed`` once the activity "has been fully
  performed", which is intake's ``completed`` (no assignment open and at
  least one completed).

Sources for an assignment (``Task.status``, FHIR R4 task-status, and
``Task.businessStatus``): the BSeR referral Task, which carries the
referral's state as ``Task.status`` plus a ``businessStatus`` code and the
feedback as ``Task.output`` (HL7 BSeR, "Workflow Management Resources" and
its TaskBusinessStatus code system: created / accepted / declined /
unattended / completed), read with FHIR's task-status definitions:

- ``requested``: "ready to be acted upon and action is sought": routed or
  delivered to the agency, and also late (``escalated``: a timer ran out and
  the area was told, but the agency still holds it and intake no longer
  knows whether it had accepted, so the weaker claim is made).
- ``accepted``: agreed to perform, not yet started; ``in-progress`` once the
  patient was contacted.
- ``completed``: the agency's part is done: the patient was seen
  (``completed``), or seen and handed back to the practice
  (``escalated_to_gp``, told apart by its business status, which the GP
  system must act on).
- ``failed``: attempted but not done: the patient did not attend (BaRS's own
  did-not-attend feedback revokes the referral, BSeR codes it "Scheduled
  Service Request Event Unattended"), or could not be contacted and the
  no-contact timer closed it.
- ``rejected``: declined before doing anything; BSeR's "Service Request
  Declined". When the router sent the declined part on to another service,
  the business status says so, and that service's Task follows.
- ``cancelled``: the referrer revoked the referral while the agency's part
  was still open (intake keeps the assignment's last state; the revoked
  ServiceRequest ends it).
"""

from collections.abc import Mapping
from dataclasses import dataclass


class UnknownStatus(ValueError):
    """A status intake has no BaRS meaning for: a bug to fix here, never a value to pass on."""


_SERVICE_REQUEST: Mapping[str, str] = {
    "submitted": "active",
    "routed": "active",
    "unroutable": "active",
    "in_progress": "active",
    "completed": "completed",
    "cancelled": "revoked",
}


@dataclass(frozen=True)
class TaskState:
    """FHIR ``Task.status`` and the Signpost business status code (with its words) that says what happened."""

    status: str
    business_status: str
    display: str


_TASK: Mapping[str, TaskState] = {
    "assigned": TaskState(
        "requested", "assigned", "Routed to the service; not yet delivered to it"
    ),
    "offered": TaskState(
        "requested", "offered", "Delivered to the service; waiting for it to accept"
    ),
    "escalated": TaskState(
        "requested",
        "overdue",
        "A time limit passed without an outcome; the area was told",
    ),
    "accepted": TaskState("accepted", "accepted", "Accepted by the service"),
    "patient_contacted": TaskState(
        "in-progress", "patient-contacted", "The service contacted the patient"
    ),
    "completed": TaskState(
        "completed", "patient-seen", "Patient seen; the service completed its part"
    ),
    "escalated_to_gp": TaskState(
        "completed",
        "escalated-to-gp",
        "Escalated back to the GP practice: the practice must act",
    ),
    "did_not_attend": TaskState(
        "failed", "did-not-attend", "The patient did not attend"
    ),
    "closed_no_contact": TaskState(
        "failed",
        "closed-no-contact",
        "Closed: the service could not contact the patient",
    ),
    "declined": TaskState("rejected", "declined", "Declined by the service"),
    "cancelled": TaskState("cancelled", "cancelled", "Cancelled with the referral"),
}
# FHIR task states after which nothing more happens.
_TASK_ENDED = frozenset({"completed", "failed", "rejected", "cancelled"})
_REROUTED = TaskState(
    "rejected",
    "declined-rerouted",
    "Declined by the service; referred on to another service",
)


def service_request_status(referral_status: str) -> str:
    """``ServiceRequest.status`` for intake's referral status; ``UnknownStatus`` for one intake does not write."""
    try:
        return _SERVICE_REQUEST[referral_status]
    except KeyError:
        raise UnknownStatus(
            f"no ServiceRequest.status for referral status {referral_status!r}"
        ) from None


def task_state(
    assignment_status: str, *, rerouted: bool, referral_cancelled: bool = False
) -> TaskState:
    """The Task state of an assignment; ``rerouted`` when a later assignment replaces it (a declined part sent on).

    A cancel revokes the referral without rewriting its assignments (the
    notifier tells each agency to stop), so a part still open on a cancelled
    referral reads ``cancelled``; one that had already ended keeps its outcome.
    """
    try:
        state = _TASK[assignment_status]
    except KeyError:
        raise UnknownStatus(
            f"no Task status for assignment status {assignment_status!r}"
        ) from None
    if referral_cancelled and state.status not in _TASK_ENDED:
        return _TASK["cancelled"]
    return _REROUTED if rerouted and assignment_status == "declined" else state


def may_read(role: str, organisation: str, *, referrer_ods: str) -> bool:
    """The FHIR read's rule, the JSON read's for referrers: the referring organisation's own clients, and operations.

    An agency gets nothing over FHIR (its door is the JSON read's minimised
    case) unless its own organisation made the referral.
    """
    return role == "operations" or organisation == referrer_ods
