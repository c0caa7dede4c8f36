"""What each kind of agency may see of a referral: only what it needs to do its part.

This is contract, not one service's habit: the notifier applies it to what it
sends on an agency's topic and intake to what an agency reads over HTTP, so an
agency learns the same through either door, and an agency developer can read
here what it will be told.

A social worker sent to fix the heating does not need to know about the
patient's sore throat, and a PIC does not need a pharmacy's name. Patient
identity and contact details always go: the agency must reach the patient.
Safeguarding concerns go to everyone who may visit.

Free text is the hard part, because nobody can say what it holds. The
referrer's notes go only to an agency whose part is the whole referral (or
that looks at the whole person: the huddle and the coordinator); an agency
asked to meet part of it cannot be told them, since they may be about
another agency's part. A referrer's reason for cancelling stays with the
referrer and operations: the agency needs to stop, not to know why. The
README's "What an agency sees" table states the whole policy.
"""

from collections.abc import Mapping
from typing import Protocol
from uuid import UUID

from schemas.events import AgencyCase, ReferralCancelled
from schemas.referral import Referral
from schemas.vocabulary import MEDICINES_RED_FLAGS, Need, RedFlag, ServiceType

_MEDICINES_SERVICES = frozenset(
    {
        ServiceType.ICN_PHARMACIST,
        ServiceType.COMMUNITY_PHARMACY,
        ServiceType.COMMUNITY_NURSING,
        ServiceType.MDT_HUDDLE,
        ServiceType.CARE_COORDINATOR,
    }
)
# The huddle and the coordinator look at the whole person; everyone else at their part of it.
SEES_EVERY_NEED = frozenset({ServiceType.MDT_HUDDLE, ServiceType.CARE_COORDINATOR})

RED_FLAGS_FOR: Mapping[ServiceType, frozenset[RedFlag]] = {
    service: frozenset({RedFlag.SAFEGUARDING})
    | (MEDICINES_RED_FLAGS if service in _MEDICINES_SERVICES else frozenset())
    for service in ServiceType
}
# What an agency's copy of a cancellation says in place of the referrer's own words.
CANCELLED_BY_REFERRER = "cancelled by the referrer; stop any work on this assignment"


class Assigned(Protocol):
    """What minimisation needs to know of an assignment: the kind of service, and the needs it is asked to meet."""

    @property
    def service_type(self) -> ServiceType: ...

    @property
    def needs(self) -> tuple[Need, ...]: ...


def agency_case(referral: Referral, assignment: Assigned) -> AgencyCase:
    service = assignment.service_type
    needs = needs_for(referral, assignment)
    return AgencyCase(
        referrer=referral.referrer,
        patient=referral.patient,
        needs=needs,
        red_flags=tuple(f for f in referral.red_flags if f in RED_FLAGS_FOR[service]),
        urgency=referral.urgency,
        chosen_pharmacy_ods=referral.chosen_pharmacy_ods
        if service is ServiceType.COMMUNITY_PHARMACY
        else None,
        notes=referral.notes if sees_whole_referral(referral, assignment) else None,
    )


def needs_for(referral: Referral, assignment: Assigned) -> tuple[Need, ...]:
    """The referral's needs this agency is asked to meet; all of them if the assignment names none it has."""
    asked = set(assignment.needs)
    if assignment.service_type in SEES_EVERY_NEED:
        return referral.needs
    return tuple(n for n in referral.needs if n in asked) or referral.needs


def sees_whole_referral(referral: Referral, assignment: Assigned) -> bool:
    """Whether the referral's free text can only be about this agency's work, so it may read it."""
    return set(needs_for(referral, assignment)) == set(referral.needs)


def agency_cancellation(
    cancelled: ReferralCancelled, event_id: UUID
) -> ReferralCancelled:
    """An agency's copy of a cancellation: that the referrer revoked it, without the referrer's reason."""
    return cancelled.model_copy(
        update={"event_id": event_id, "reason": CANCELLED_BY_REFERRER}
    )
