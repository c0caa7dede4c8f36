"""What each agency is told about a referral: only what it needs to do its part.

A social worker sent to fix the heating does not need to know about the
patient's sore throat, and a PIC does not need a pharmacy's name. Patient
identity and contact details always go: the agency must reach the patient.
Safeguarding concerns go to everyone who may visit.
"""

from collections.abc import Mapping

from schemas.events import AgencyCase, Assignment
from schemas.referral import Referral
from schemas.vocabulary import MEDICINES_RED_FLAGS, RedFlag, ServiceType

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
_SEES_EVERY_NEED = frozenset({ServiceType.MDT_HUDDLE, ServiceType.CARE_COORDINATOR})

RED_FLAGS_FOR: Mapping[ServiceType, frozenset[RedFlag]] = {
    service: frozenset({RedFlag.SAFEGUARDING}) | (MEDICINES_RED_FLAGS if service in _MEDICINES_SERVICES else frozenset())
    for service in ServiceType
}


def agency_case(referral: Referral, assignment: Assignment) -> AgencyCase:
    service = assignment.service_type
    asked = set(assignment.needs)
    needs = referral.needs if service in _SEES_EVERY_NEED or not asked else tuple(n for n in referral.needs if n in asked)
    return AgencyCase(
        referrer=referral.referrer,
        patient=referral.patient,
        needs=needs or referral.needs,
        red_flags=tuple(f for f in referral.red_flags if f in RED_FLAGS_FOR[service]),
        urgency=referral.urgency,
        chosen_pharmacy_ods=referral.chosen_pharmacy_ods if service is ServiceType.COMMUNITY_PHARMACY else None,
        notes=referral.notes,
    )
