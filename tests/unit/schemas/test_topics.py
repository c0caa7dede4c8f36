"""Topic names are contract: one parser of an agency's outcomes topic, and the pattern that follows them all."""

import re

import pytest

from schemas.topics import (
    AGENCY_OUTCOMES_PATTERN,
    agency_of_outcomes,
    agency_outcomes,
    agency_referrals,
)


@pytest.mark.parametrize("agency", ["demo-pharmacy", "age-uk-leeds", "ab"])
def test_an_agency_outcomes_topic_names_its_agency_and_the_pattern_follows_it(
    agency: str,
) -> None:
    topic = agency_outcomes(agency)
    assert agency_of_outcomes(topic) == agency
    assert re.fullmatch(AGENCY_OUTCOMES_PATTERN, topic)


@pytest.mark.parametrize(
    "topic",
    [
        agency_referrals("demo-pharmacy"),
        "agency..outcomes",
        "agency.a.b.outcomes",  # an agency id has no dot: not agency "a.b"
        "agency.demo-pharmacy.outcomes.extra",
        "xagency.demo-pharmacy.outcomes",
        "referral.submitted",
    ],
)
def test_any_other_topic_names_no_agency_and_is_not_followed(topic: str) -> None:
    assert agency_of_outcomes(topic) is None
    assert not re.fullmatch(AGENCY_OUTCOMES_PATTERN, topic)
