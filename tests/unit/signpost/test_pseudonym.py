"""Pseudonymous patient keys never join two patients (HAZ-013)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signpost.pseudonym import patient_key

SECRET = b"unit-test-pseudonym-key"
digits = st.text(alphabet="0123456789", min_size=10, max_size=10)
local_ids = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-:", min_size=1, max_size=20
)
ods = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=3, max_size=9)


@pytest.mark.hazard("HAZ-013")
@given(st.lists(digits, min_size=2, max_size=50, unique=True))
def test_distinct_nhs_numbers_never_share_a_key(numbers: list[str]) -> None:
    keys = {
        patient_key(SECRET, nhs_number=n, local_id=None, organisation="H81001")
        for n in numbers
    }
    assert len(keys) == len(numbers)


@pytest.mark.hazard("HAZ-013")
@given(digits, local_ids, ods, ods)
def test_a_local_id_never_shares_a_key_with_an_nhs_number_or_another_organisations_id(
    number: str, local_id: str, org: str, other_org: str
) -> None:
    by_nhs = patient_key(SECRET, nhs_number=number, local_id=None, organisation=org)
    # The same characters as a local id are another kind of identifier, never the same patient.
    same_text_local = patient_key(
        SECRET, nhs_number=None, local_id=number, organisation=org
    )
    assert by_nhs != same_text_local
    here = patient_key(SECRET, nhs_number=None, local_id=local_id, organisation=org)
    there = patient_key(
        SECRET, nhs_number=None, local_id=local_id, organisation=other_org
    )
    assert (here == there) == (org == other_org)


@pytest.mark.hazard("HAZ-013")
def test_a_patient_with_no_identifier_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="needs an NHS number or a local id"):
        patient_key(SECRET, nhs_number=None, local_id=None, organisation="H81001")


def test_the_key_is_a_full_sha256_and_depends_on_the_secret() -> None:
    key = patient_key(
        SECRET, nhs_number="9434765919", local_id=None, organisation="H81001"
    )
    assert len(key) == 64
    assert key != patient_key(
        b"another-secret", nhs_number="9434765919", local_id=None, organisation="H81001"
    )
