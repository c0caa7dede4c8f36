"""Each agency receives only what it needs of a referral, free text included."""

from datetime import UTC, datetime
from uuid import UUID

import pytest

from schemas.events import Assignment, ReferralCancelled
from schemas.minimise import CANCELLED_BY_REFERRER, agency_cancellation, agency_case
from schemas.referral import Referral
from schemas.vocabulary import Need, RedFlag, ServiceType
from tests.unit.schemas.factories import referral

NOTE = "Daughter says he hides tablets under the sink"


def _assignment(service: ServiceType, needs: tuple[Need, ...] = ()) -> Assignment:
    return Assignment(
        assignment_id=UUID(int=1),
        service_id="s",
        service_type=service,
        agency_id="a",
        rule_id="r",
        reason="because",
        needs=needs,
    )


def _home_visit() -> Referral:
    base = referral()
    return base.model_copy(
        update={
            "needs": (Need.HOME_HEATING, Need.LONELINESS),
            "red_flags": (RedFlag.MEDICINES_STOCKPILE, RedFlag.SAFEGUARDING),
            "chosen_pharmacy_ods": "FA001",
            "notes": NOTE,
        }
    )


@pytest.mark.hazard("HAZ-014", "HAZ-021")
def test_social_services_hear_of_the_heating_not_the_loneliness_nor_the_medicines() -> (
    None
):
    case = agency_case(
        _home_visit(), _assignment(ServiceType.SOCIAL_SERVICES, (Need.HOME_HEATING,))
    )
    assert case.needs == (Need.HOME_HEATING,)
    assert case.red_flags == (RedFlag.SAFEGUARDING,), (
        "a safeguarding concern goes to everyone who may visit"
    )
    assert case.chosen_pharmacy_ods is None


def test_the_icn_pharmacist_hears_of_the_medicines_flags() -> None:
    case = agency_case(
        _home_visit(), _assignment(ServiceType.ICN_PHARMACIST, (Need.HOME_HEATING,))
    )
    assert set(case.red_flags) == {RedFlag.MEDICINES_STOCKPILE, RedFlag.SAFEGUARDING}


@pytest.mark.parametrize(
    "service", [ServiceType.MDT_HUDDLE, ServiceType.CARE_COORDINATOR]
)
def test_the_huddle_and_the_coordinator_see_the_whole_person(
    service: ServiceType,
) -> None:
    case = agency_case(_home_visit(), _assignment(service, (Need.LONELINESS,)))
    assert case.needs == (Need.HOME_HEATING, Need.LONELINESS)


@pytest.mark.hazard("HAZ-014")
def test_only_a_community_pharmacy_learns_which_pharmacy_the_patient_chose() -> None:
    assert (
        agency_case(
            _home_visit(), _assignment(ServiceType.COMMUNITY_PHARMACY)
        ).chosen_pharmacy_ods
        == "FA001"
    )
    assert (
        agency_case(_home_visit(), _assignment(ServiceType.PIC)).chosen_pharmacy_ods
        is None
    )


@pytest.mark.hazard("HAZ-014")
def test_the_patient_is_always_identifiable_and_reachable_and_consent_bookkeeping_stays_behind() -> (
    None
):
    source = _home_visit()
    case = agency_case(source, _assignment(ServiceType.PIC, (Need.LONELINESS,)))
    assert case.patient == source.patient
    assert "consent_direct_care" not in case.model_dump()


@pytest.mark.hazard("HAZ-014")
@pytest.mark.parametrize(
    "service",
    [ServiceType.SOCIAL_SERVICES, ServiceType.PIC, ServiceType.ICN_PHARMACIST],
)
def test_an_agency_asked_to_meet_part_of_the_referral_is_not_told_the_notes_which_may_be_about_the_rest(
    service: ServiceType,
) -> None:
    assert (
        agency_case(_home_visit(), _assignment(service, (Need.HOME_HEATING,))).notes
        is None
    )


def test_an_agency_whose_part_is_the_whole_referral_reads_the_notes() -> None:
    both = _assignment(
        ServiceType.SOCIAL_SERVICES, (Need.LONELINESS, Need.HOME_HEATING)
    )
    assert agency_case(_home_visit(), both).notes == NOTE
    pharmacy_first = referral().model_copy(update={"notes": NOTE})
    assert (
        agency_case(
            pharmacy_first,
            _assignment(ServiceType.COMMUNITY_PHARMACY, pharmacy_first.needs),
        ).notes
        == NOTE
    )


@pytest.mark.parametrize(
    "service", [ServiceType.MDT_HUDDLE, ServiceType.CARE_COORDINATOR]
)
def test_the_huddle_and_the_coordinator_read_the_notes(service: ServiceType) -> None:
    assert (
        agency_case(_home_visit(), _assignment(service, (Need.LONELINESS,))).notes
        == NOTE
    )


def test_an_assignment_that_names_no_needs_is_for_the_whole_referral_notes_included() -> (
    None
):
    """A hand assignment (and any router before needs were carried) hands over the whole referral."""
    case = agency_case(_home_visit(), _assignment(ServiceType.SOCIAL_SERVICES))
    assert (case.needs, case.notes) == ((Need.HOME_HEATING, Need.LONELINESS), NOTE)


def test_an_agency_told_of_a_cancellation_does_not_hear_the_referrers_reason() -> None:
    cancelled = ReferralCancelled(
        event_id=UUID(int=1),
        occurred_at=datetime(2026, 1, 15, tzinfo=UTC),
        correlation_id="c",
        journey_id=UUID(int=2),
        producer="intake",
        patient_key="k" * 16,
        referral_id=UUID(int=3),
        reason="Patient died on Tuesday",
        cancelled_by="gp-h81001",
    )
    notice = agency_cancellation(cancelled, UUID(int=4))
    assert (notice.event_id, notice.reason) == (UUID(int=4), CANCELLED_BY_REFERRER)
    assert notice.model_dump(exclude={"event_id", "reason"}) == cancelled.model_dump(
        exclude={"event_id", "reason"}
    )
