"""NHS numbers: a correct check digit always passes, any single wrong digit always fails."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.nhs_number import check_digit, is_valid_nhs_number
from schemas.referral import Patient
from tests.unit.schemas.factories import baseline

FIRST_NINE = st.text(alphabet="0123456789", min_size=9, max_size=9)


def with_check_digit(first_nine: str) -> str:
    check = check_digit(first_nine)
    assume(check is not None)
    return f"{first_nine}{check}"


def patient(nhs_number: str) -> Patient:
    return Patient.model_validate({**baseline()["patient"], "nhs_number": nhs_number})


@pytest.mark.hazard("HAZ-012")
@pytest.mark.parametrize(
    ("number", "valid"),
    [("9434765919", True), ("9000000009", True), ("3478526985", False)],
)
def test_published_examples(number: str, valid: bool) -> None:
    assert is_valid_nhs_number(number) is valid


@settings(deadline=None)
@given(FIRST_NINE)
def test_a_number_with_its_computed_check_digit_always_passes(first_nine: str) -> None:
    number = with_check_digit(first_nine)
    assert is_valid_nhs_number(number)
    assert patient(number).nhs_number == number


@pytest.mark.hazard("HAZ-012")
@settings(deadline=None)
@given(
    FIRST_NINE,
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=1, max_value=9),
)
def test_changing_any_one_digit_always_fails(
    first_nine: str, position: int, shift: int
) -> None:
    number = with_check_digit(first_nine)
    changed = (
        number[:position]
        + str((int(number[position]) + shift) % 10)
        + number[position + 1 :]
    )
    assert not is_valid_nhs_number(changed)
    with pytest.raises(ValidationError, match="NHS number fails the modulus 11 check"):
        patient(changed)


@pytest.mark.hazard("HAZ-012")
@settings(deadline=None)
@given(
    st.text(max_size=12).filter(
        lambda s: not (len(s) == 10 and s.isascii() and s.isdigit())
    )
)
def test_anything_but_ten_ascii_digits_is_refused_before_the_check(value: str) -> None:
    with pytest.raises(
        ValidationError, match="NHS number must be exactly 10 digits, without spaces"
    ):
        patient(value)
