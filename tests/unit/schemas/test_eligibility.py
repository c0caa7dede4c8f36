"""Pharmacy First eligibility: one table, a pure function, ages counted on the day in England."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.eligibility import (
    GP_PRACTICE_ROLES,
    PHARMACY_FIRST_ELIGIBILITY,
    age_on,
    pharmacy_first_ineligibility,
)
from schemas.referral import Referral
from schemas.vocabulary import PHARMACY_FIRST_NEEDS, Need, ReferrerRole, Sex
from tests.unit.schemas.factories import TODAY, born_aged, oldest_aged, referral

DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
WITH_MIN_AGE = [
    n for n, rule in PHARMACY_FIRST_ELIGIBILITY.items() if rule.min_age is not None
]
WITH_MAX_AGE = [
    n for n, rule in PHARMACY_FIRST_ELIGIBILITY.items() if rule.max_age is not None
]


def for_patient(
    need: Need,
    birth_date: date,
    sex: Sex = Sex.FEMALE,
    role: ReferrerRole = ReferrerRole.GP_RECEPTIONIST,
) -> Referral:
    """A referral with the patient swapped in unvalidated: the function under test must judge it, not the model."""
    base = referral()
    patient = base.patient.model_copy(update={"birth_date": birth_date, "sex": sex})
    referrer = base.referrer.model_copy(update={"role": role})
    return base.model_copy(
        update={"patient": patient, "referrer": referrer, "needs": (need,)}
    )


def test_the_table_covers_every_pharmacy_first_pathway_with_limits() -> None:
    assert set(PHARMACY_FIRST_ELIGIBILITY) == PHARMACY_FIRST_NEEDS - {
        Need.MINOR_ILLNESS
    }


@pytest.mark.hazard("HAZ-006")
def test_the_table_holds_the_published_limits() -> None:
    limits = {
        need: (rule.min_age, rule.max_age, rule.sexes)
        for need, rule in PHARMACY_FIRST_ELIGIBILITY.items()
    }
    assert limits == {
        Need.UTI: (16, 64, frozenset({Sex.FEMALE})),
        Need.IMPETIGO: (1, None, None),
        Need.INFECTED_INSECT_BITE: (1, None, None),
        Need.SHINGLES: (18, None, None),
        Need.SINUSITIS: (12, None, None),
        Need.SORE_THROAT: (5, None, None),
        Need.ACUTE_OTITIS_MEDIA: (1, 17, None),
        Need.URGENT_MEDICINES_SUPPLY: (None, None, None),
    }


@pytest.mark.hazard("HAZ-006")
@settings(deadline=None)
@given(today=DAYS, need=st.sampled_from(WITH_MIN_AGE))
def test_the_youngest_eligible_patient_is_accepted_and_one_day_younger_is_not(
    today: date, need: Need
) -> None:
    min_age = PHARMACY_FIRST_ELIGIBILITY[need].min_age
    assert min_age is not None
    youngest_eligible = born_aged(min_age, today)
    assert (
        pharmacy_first_ineligibility(for_patient(need, youngest_eligible), today) == []
    )
    assert (
        pharmacy_first_ineligibility(
            for_patient(need, youngest_eligible + timedelta(days=1)), today
        )
        != []
    )


@pytest.mark.hazard("HAZ-006")
@settings(deadline=None)
@given(today=DAYS, need=st.sampled_from(WITH_MAX_AGE))
def test_the_oldest_eligible_patient_is_accepted_and_one_day_older_is_not(
    today: date, need: Need
) -> None:
    max_age = PHARMACY_FIRST_ELIGIBILITY[need].max_age
    assert max_age is not None
    oldest_eligible = oldest_aged(max_age, today)
    assert pharmacy_first_ineligibility(for_patient(need, oldest_eligible), today) == []
    assert (
        pharmacy_first_ineligibility(
            for_patient(need, oldest_eligible - timedelta(days=1)), today
        )
        != []
    )


@settings(deadline=None)
@given(
    today=DAYS,
    age=st.integers(min_value=16, max_value=64),
    sex=st.sampled_from([Sex.MALE, Sex.OTHER, Sex.UNKNOWN]),
)
def test_uti_is_refused_for_anyone_not_recorded_female_whatever_their_age(
    today: date, age: int, sex: Sex
) -> None:
    problems = pharmacy_first_ineligibility(
        for_patient(Need.UTI, born_aged(age, today), sex), today
    )
    assert problems == [
        f"Pharmacy First: uncomplicated UTI is for women aged 16 to 64; the patient's recorded sex is {sex.value}"
    ]


@settings(deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2090, 12, 31)), today=DAYS
)
def test_age_counts_completed_years(born: date, today: date) -> None:
    age = age_on(born, today)
    if today >= born:
        assert born_aged(age, today) >= born > born_aged(age + 1, today)


@pytest.mark.parametrize(
    ("today", "age"),
    [
        (date(2025, 2, 28), 0),
        (date(2025, 3, 1), 1),
        (date(2028, 2, 28), 3),
        (date(2028, 2, 29), 4),
    ],
)
@pytest.mark.hazard("HAZ-006")
def test_someone_born_on_29_february_comes_of_age_on_1_march_in_other_years(
    today: date, age: int
) -> None:
    assert age_on(date(2024, 2, 29), today) == age


@pytest.mark.hazard("HAZ-006")
@pytest.mark.parametrize("role", sorted(GP_PRACTICE_ROLES))
def test_gp_practices_cannot_refer_for_urgent_medicines_supply(
    role: ReferrerRole,
) -> None:
    problems = pharmacy_first_ineligibility(
        for_patient(Need.URGENT_MEDICINES_SUPPLY, born_aged(40), role=role), TODAY
    )
    assert problems == [
        "Pharmacy First: GP practices cannot refer for urgent medicines supply"
    ]


@pytest.mark.parametrize("role", sorted(set(ReferrerRole) - GP_PRACTICE_ROLES))
def test_everyone_else_may_refer_for_urgent_medicines_supply(
    role: ReferrerRole,
) -> None:
    assert (
        pharmacy_first_ineligibility(
            for_patient(Need.URGENT_MEDICINES_SUPPLY, born_aged(40), role=role), TODAY
        )
        == []
    )


@settings(deadline=None)
@given(
    age=st.integers(min_value=0, max_value=120),
    need=st.sampled_from(sorted(set(Need) - set(PHARMACY_FIRST_ELIGIBILITY))),
)
def test_needs_outside_the_pathways_have_no_age_or_sex_limit(
    age: int, need: Need
) -> None:
    assert (
        pharmacy_first_ineligibility(for_patient(need, born_aged(age), Sex.MALE), TODAY)
        == []
    )


def test_the_model_judges_on_the_date_it_is_given() -> None:
    """The same UTI referral is eligible the day before her 65th birthday and refused on it."""
    changes = {
        "patient.sex": "female",
        "patient.birth_date": "1961-01-16",
        "needs": ["uti"],
    }
    referral(changes, today=TODAY)
    with pytest.raises(ValidationError, match="the patient is 65"):
        referral(changes, today=TODAY + timedelta(days=1))
