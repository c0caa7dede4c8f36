"""Control characters never get into free text: names and reasons are one line, notes keep newline and tab."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.clock import judged_on
from schemas.referral import Referral
from tests.unit.schemas.factories import TODAY, mutated

CONTROL = st.characters(categories=["Cc"])
PRINTABLE = st.text(
    st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30
).filter(str.strip)
SINGLE_LINE_FIELDS = [
    "patient.given_name",
    "patient.family_name",
    "referrer.practitioner",
    "patient.local_id",
]


def validate(changes: dict[str, object]) -> Referral:
    with judged_on(TODAY):
        return Referral.model_validate(mutated(changes))


def test_the_strategy_covers_exactly_c0_del_and_c1() -> None:
    assert {
        c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Cc"
    } == {
        *map(chr, range(0x00, 0x20)),
        *map(chr, range(0x7F, 0xA0)),
    }


@settings(deadline=None)
@given(
    field=st.sampled_from(SINGLE_LINE_FIELDS),
    text=PRINTABLE,
    control=CONTROL,
    at=st.integers(min_value=0, max_value=30),
)
def test_a_control_character_anywhere_in_a_single_line_field_is_refused(
    field: str, text: str, control: str, at: int
) -> None:
    with pytest.raises(
        ValidationError,
        match="control characters \\(including line breaks\\) are not allowed",
    ):
        validate({field: text[:at] + control + text[at:]})


@settings(deadline=None)
@given(
    text=PRINTABLE,
    control=CONTROL.filter(lambda c: c not in "\n\t"),
    at=st.integers(min_value=0, max_value=30),
)
def test_a_control_character_other_than_newline_or_tab_in_notes_is_refused(
    text: str, control: str, at: int
) -> None:
    with pytest.raises(
        ValidationError,
        match="control characters other than newline and tab are not allowed",
    ):
        validate({"notes": text[:at] + control + text[at:]})


@settings(deadline=None)
@given(
    st.lists(st.one_of(PRINTABLE, st.sampled_from(["\n", "\t"])), max_size=10).map(
        "".join
    )
)
def test_notes_without_other_control_characters_are_kept_exactly(notes: str) -> None:
    assert validate({"notes": notes}).notes == notes


@settings(deadline=None)
@given(PRINTABLE)
def test_printable_names_in_any_script_are_kept_exactly(name: str) -> None:
    assert validate({"patient.given_name": name}).patient.given_name == name
