"""Untraced patients are matched by their demographics, normalised, under a keyed hash (HAZ-013).

Equal demographics written differently must give one key (else one patient's
referrals scatter and lose their order); different demographics must not (else
two patients' records merge).
"""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signpost.pseudonym import (
    Demographics,
    demographic_key,
    normalised_name,
    normalised_postcode,
    patient_key,
)

SECRET = b"unit-test-pseudonym-key"
JIM = Demographics(
    given_name="Jim",
    family_name="Harris",
    birth_date=date(1950, 3, 1),
    postcode="CR0 1AA",
    address=None,
)

letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
names = st.lists(letters, min_size=1, max_size=3).map(" ".join)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 1, 1))
postcodes = st.sampled_from(
    ["CR0 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "DT11 9AB"]
)


def respelled(name: str, draw: st.DrawFn) -> str:
    """The same name as another system might type it: any case, extra spaces, hyphens, apostrophes, dots."""
    out = []
    for ch in name:
        if ch == " ":
            out.append(draw(st.sampled_from([" ", "  ", "-", " - ", "'", ". ", ""])))
        else:
            out.append(ch.upper() if draw(st.booleans()) else ch)
    return (
        draw(st.sampled_from(["", " ", "  "]))
        + "".join(out)
        + draw(st.sampled_from(["", " ", "."]))
    )


def respelled_postcode(postcode: str, draw: st.DrawFn) -> str:
    bare = postcode.replace(" ", "")
    cased = bare.lower() if draw(st.booleans()) else bare
    return draw(
        st.sampled_from(
            [cased, f"{cased[:-3]} {cased[-3:]}", f" {cased[:-3]}  {cased[-3:]} "]
        )
    )


@st.composite
def one_patient_two_spellings(draw: st.DrawFn) -> tuple[Demographics, Demographics]:
    given_name, family_name = draw(names), draw(names)
    born, postcode = draw(birth_dates), draw(postcodes)
    first = Demographics(given_name, family_name, born, postcode, None)
    given_again, family_again = (
        respelled(given_name, draw),
        respelled(family_name, draw),
    )
    second = Demographics(
        given_again, family_again, born, respelled_postcode(postcode, draw), None
    )
    return first, second


@pytest.mark.hazard("HAZ-022")
@given(one_patient_two_spellings())
def test_the_same_demographics_spelled_differently_give_one_key(
    pair: tuple[Demographics, Demographics],
) -> None:
    first, second = pair
    assert demographic_key(SECRET, first) == demographic_key(SECRET, second)


@pytest.mark.hazard("HAZ-013", "HAZ-022")
@given(one_patient_two_spellings(), birth_dates)
def test_another_date_of_birth_gives_another_key(
    pair: tuple[Demographics, Demographics], other: date
) -> None:
    first, second = pair
    moved = Demographics(
        second.given_name, second.family_name, other, second.postcode, None
    )
    assert (demographic_key(SECRET, first) == demographic_key(SECRET, moved)) == (
        other == first.birth_date
    )


@pytest.mark.parametrize(
    "other",
    [
        Demographics("Jim", "Harriss", JIM.birth_date, "CR0 1AA", None),  # a typo
        Demographics(
            "James", "Harris", JIM.birth_date, "CR0 1AA", None
        ),  # another form of the name
        Demographics(
            "Harris", "Jim", JIM.birth_date, "CR0 1AA", None
        ),  # given and family transposed
        Demographics(
            "Jim", "Harris", JIM.birth_date, "CR0 1AB", None
        ),  # moved next door
        Demographics(
            "Jim", "Harris", date(1950, 1, 3), "CR0 1AA", None
        ),  # day and month transposed
        Demographics(
            "Jim", "Harris", JIM.birth_date, None, "1 Example Road, Croydon CR0 1AA"
        ),  # address, no postcode
    ],
    ids=[
        "typo",
        "other-name-form",
        "transposed-names",
        "moved",
        "transposed-date",
        "address-not-postcode",
    ],
)
@pytest.mark.hazard("HAZ-022")
def test_what_normalisation_does_not_match(other: Demographics) -> None:
    """Not fuzzy: each of these is another key. A near miss is a new patient, never a merge."""
    assert demographic_key(SECRET, other) != demographic_key(SECRET, JIM)


def test_accents_case_and_punctuation_in_names_are_not_differences() -> None:
    assert (
        normalised_name("  O'Brien-Ní   Bhriain ")
        == normalised_name("obrien ni bhriain")
        == "obriennibhriain"
    )
    assert normalised_name("ZOË") == normalised_name("Zoe")


def test_postcodes_lose_spaces_and_case() -> None:
    assert normalised_postcode(" cr0  1aa ") == "CR01AA"


def test_an_address_is_matched_only_when_there_is_no_postcode() -> None:
    with_both = Demographics(
        "Jim", "Harris", JIM.birth_date, "CR0 1AA", "1 Example Road"
    )
    assert demographic_key(SECRET, with_both) == demographic_key(SECRET, JIM)
    by_address = Demographics(
        "Jim", "Harris", JIM.birth_date, None, "1 Example Road, Croydon"
    )
    respelled_address = Demographics(
        "JIM", "harris", JIM.birth_date, None, "1, example road  croydon."
    )
    assert demographic_key(SECRET, by_address) == demographic_key(
        SECRET, respelled_address
    )


@pytest.mark.hazard("HAZ-013")
def test_demographic_keys_never_equal_an_nhs_number_or_local_id_key() -> None:
    by_demographics = demographic_key(SECRET, JIM)
    assert by_demographics != patient_key(
        SECRET, nhs_number="9434765919", local_id=None, organisation="H81001"
    )
    assert len(by_demographics) == 64
    assert by_demographics != demographic_key(b"another-secret", JIM)


def test_a_patient_without_postcode_or_address_cannot_be_keyed() -> None:
    with pytest.raises(ValueError, match="postcode or an address"):
        demographic_key(
            SECRET, Demographics("Jim", "Harris", JIM.birth_date, None, None)
        )
