"""Which key a referral travels under, and which earlier key it says it now stands for (HAZ-022).

A referral with a traced NHS number claims its demographics' key; from then
on an untraced referral with those demographics travels under the traced key.
Demographics claimed by two traced NHS numbers link nobody.
"""

from typing import Any

import pytest

from schemas.referral import Referral
from services.intake.domain.patients import Identity, Link, Travel, identify, travel
from signpost.pseudonym import Demographics, demographic_key, patient_key
from tests.unit.schemas.factories import DELETE, referral

SECRET = b"unit-test-pseudonym-key"
TRACED_KEY = patient_key(
    SECRET, nhs_number="9434765919", local_id=None, organisation="H81001"
)
JIMS_DEMOGRAPHICS = demographic_key(
    SECRET,
    Demographics("Jim", "Harris", referral().patient.birth_date, "CR0 1AA", None),
)
OTHER_TRACED_KEY = patient_key(
    SECRET, nhs_number="9000000009", local_id=None, organisation="H81001"
)


def untraced(**changes: Any) -> Referral:
    return referral({"patient.nhs_number": DELETE, **changes})


def test_a_traced_nhs_number_keys_the_patient_and_offers_its_demographics_for_linking() -> (
    None
):
    assert identify(SECRET, referral()) == Identity(
        TRACED_KEY, JIMS_DEMOGRAPHICS, traced=True
    )


def test_an_untraced_patient_is_keyed_by_demographics_however_they_are_written() -> (
    None
):
    respelled = untraced(
        **{
            "patient.given_name": " JIM ",
            "patient.family_name": "harris.",
            "patient.postcode": "cr01aa",
        }
    )
    assert (
        identify(SECRET, untraced())
        == identify(SECRET, respelled)
        == Identity(JIMS_DEMOGRAPHICS, JIMS_DEMOGRAPHICS, traced=False)
    )


@pytest.mark.hazard("HAZ-022")
def test_an_nhs_number_that_was_not_traced_neither_keys_nor_links() -> None:
    """An untraced number could be someone else's: matching it would merge two patients."""
    assert identify(SECRET, referral({"patient.nhs_number_traced": False})) == identify(
        SECRET, untraced()
    )


def test_a_local_id_keys_the_patient_as_before_and_takes_no_part_in_linking() -> None:
    found = identify(SECRET, untraced(**{"patient.local_id": "P-4471"}))
    assert found == Identity(
        patient_key(SECRET, nhs_number=None, local_id="P-4471", organisation="H81001"),
        None,
        traced=False,
    )


def test_before_any_link_an_untraced_referral_travels_under_its_own_key() -> None:
    assert travel(identify(SECRET, untraced()), None) == Travel(JIMS_DEMOGRAPHICS, ())


def test_the_traced_referral_that_holds_the_link_names_the_demographic_key() -> None:
    assert travel(
        identify(SECRET, referral()), Link(TRACED_KEY, conflicting=False)
    ) == Travel(TRACED_KEY, (JIMS_DEMOGRAPHICS,))


def test_after_the_link_an_untraced_referral_travels_under_the_traced_key() -> None:
    assert travel(
        identify(SECRET, untraced()), Link(TRACED_KEY, conflicting=False)
    ) == Travel(TRACED_KEY, (JIMS_DEMOGRAPHICS,))


@pytest.mark.hazard("HAZ-022")
def test_demographics_another_nhs_number_holds_are_not_claimed() -> None:
    assert travel(
        identify(SECRET, referral()), Link(OTHER_TRACED_KEY, conflicting=False)
    ) == Travel(TRACED_KEY, ())


@pytest.mark.hazard("HAZ-022")
def test_demographics_two_nhs_numbers_claimed_link_nobody() -> None:
    for link in (
        Link(TRACED_KEY, conflicting=True),
        Link(OTHER_TRACED_KEY, conflicting=True),
    ):
        assert travel(identify(SECRET, referral()), link) == Travel(TRACED_KEY, ())
        assert travel(identify(SECRET, untraced()), link) == Travel(
            JIMS_DEMOGRAPHICS, ()
        )


def test_names_with_nothing_to_match_on_offer_no_demographics() -> None:
    assert identify(SECRET, referral({"patient.given_name": "-"})) == Identity(
        TRACED_KEY, None, traced=True
    )
