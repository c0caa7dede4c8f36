"""Each agency receives only what it needs of a referral."""

from uuid import UUID

import pytest

from schemas.events import Assignment
from schemas.referral import Referral
from schemas.vocabulary import Need, RedFlag, ServiceType
from services.notifier.domain.minimise import agency_case
from tests.unit.schemas.factories import referral


def _assignment(service: ServiceType, needs: tuple[Need, ...] = ()) -> Assignment:
    return Assignment(assignment_id=UUID(int=1), service_id="s", service_type=service, agency_id="a", rule_id="r",
                      reason="because", needs=needs)  # fmt: skip


def _home_visit() -> Referral:
    base = referral()
    return base.model_copy(
        update={
            "needs": (Need.HOME_HEATING, Need.LONELINESS),
            "red_flags": (RedFlag.MEDICINES_STOCKPILE, RedFlag.SAFEGUARDING),
            "chosen_pharmacy_ods": "FA001",
        }
    )


@pytest.mark.hazard("HAZ-014", "HAZ-021")
def test_social_services_hear_of_the_heating_not_the_loneliness_nor_the_medicines() -> None:
    case = agency_case(_home_visit(), _assignment(ServiceType.SOCIAL_SERVICES, (Need.HOME_HEATING,)))
    assert case.needs == (Need.HOME_HEATING,)
    assert case.red_flags == (RedFlag.SAFEGUARDING,), "a safeguarding concern goes to everyone who may visit"
    assert case.chosen_pharmacy_ods is None


def test_the_icn_pharmacist_hears_of_the_medicines_flags() -> None:
    case = agency_case(_home_visit(), _assignment(ServiceType.ICN_PHARMACIST, (Need.HOME_HEATING,)))
    assert set(case.red_flags) == {RedFlag.MEDICINES_STOCKPILE, RedFlag.SAFEGUARDING}


@pytest.mark.parametrize("service", [ServiceType.MDT_HUDDLE, ServiceType.CARE_COORDINATOR])
def test_the_huddle_and_the_coordinator_see_the_whole_person(service: ServiceType) -> None:
    case = agency_case(_home_visit(), _assignment(service, (Need.LONELINESS,)))
    assert case.needs == (Need.HOME_HEATING, Need.LONELINESS)


@pytest.mark.hazard("HAZ-014")
def test_only_a_community_pharmacy_learns_which_pharmacy_the_patient_chose() -> None:
    assert agency_case(_home_visit(), _assignment(ServiceType.COMMUNITY_PHARMACY)).chosen_pharmacy_ods == "FA001"
    assert agency_case(_home_visit(), _assignment(ServiceType.PIC)).chosen_pharmacy_ods is None


@pytest.mark.hazard("HAZ-014")
def test_the_patient_is_always_identifiable_and_reachable_and_consent_bookkeeping_stays_behind() -> None:
    source = _home_visit()
    case = agency_case(source, _assignment(ServiceType.PIC, (Need.LONELINESS,)))
    assert case.patient == source.patient
    assert "consent_direct_care" not in case.model_dump()
