"""Each referral rule refuses with a message naming it, at the field it concerns; valid variants pass."""

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.clock import judged_on
from schemas.referral import Referral
from tests.unit.schemas.factories import DELETE, TODAY, baseline, mutated, patient_aged

PHONE = {"system": "phone", "value": "07700900001", "rank": 1}
EMAIL = {"system": "email", "value": "jim@example.org", "rank": 2}
CONTROL_MESSAGE = (
    "control characters (including line breaks) are not allowed in this text"
)
NOTES_CONTROL_MESSAGE = "control characters other than newline and tab are not allowed"
NOT_UK_PHONE = "phone must be a UK number"
NOT_EMAIL = "email must look like an email address"
NOT_POSTCODE = "postcode must be a UK postcode, e.g. CR0 1AA"
ONE_PHONE = "contacts must include exactly one phone with rank 1"
TEN_DIGITS = "NHS number must be exactly 10 digits, without spaces"
UTI = "Pharmacy First: uncomplicated UTI is for women aged 16 to 64"
UNTRACED = "a patient without an NHS number or local_id is matched by name, date of birth and postcode or address"
GP_SUPPLY = "Pharmacy First: GP practices cannot refer for urgent medicines supply"

# (case, changes to the baseline referral, where the error is, what it says)
REFUSED: list[tuple[str, dict[str, Any], tuple[str | int, ...], str]] = [
    (
        "nhs number fails modulus 11",
        {"patient.nhs_number": "3478526985"},
        ("patient", "nhs_number"),
        "NHS number fails the modulus 11 check",
    ),
    (
        "nhs number whose check digit would be 10",
        {"patient.nhs_number": "1000000010"},
        ("patient", "nhs_number"),
        "NHS number fails the modulus 11 check",
    ),
    (
        "nhs number printed with spaces",
        {"patient.nhs_number": "943 476 5919"},
        ("patient", "nhs_number"),
        TEN_DIGITS,
    ),
    (
        "nhs number of nine digits",
        {"patient.nhs_number": "943476591"},
        ("patient", "nhs_number"),
        TEN_DIGITS,
    ),
    (
        "nhs number of eleven digits",
        {"patient.nhs_number": "94347659190"},
        ("patient", "nhs_number"),
        TEN_DIGITS,
    ),
    (
        "nhs number with a letter",
        {"patient.nhs_number": "943476591X"},
        ("patient", "nhs_number"),
        TEN_DIGITS,
    ),
    (
        "nhs number in arabic-indic digits",
        {"patient.nhs_number": "٩٤٣٤٧٦٥٩١٩"},
        ("patient", "nhs_number"),
        TEN_DIGITS,
    ),
    (
        "no identifier, no postcode and no address",
        {"patient.nhs_number": DELETE, "patient.postcode": DELETE},
        ("patient",),
        f"{UNTRACED} (missing: postcode or address)",
    ),
    (
        "no identifier and only a name",
        {
            "patient.nhs_number": DELETE,
            "patient.birth_date": DELETE,
            "patient.postcode": DELETE,
        },
        ("patient",),
        f"{UNTRACED} (missing: birth_date, postcode or address)",
    ),
    (
        "no identifier and no date of birth",
        {"patient.nhs_number": DELETE, "patient.birth_date": DELETE},
        ("patient",),
        f"{UNTRACED} (missing: birth_date)",
    ),
    (
        "no identifier and no family name",
        {"patient.nhs_number": DELETE, "patient.family_name": DELETE},
        ("patient",),
        f"{UNTRACED} (missing: family_name)",
    ),
    (
        "no identifier and a name of punctuation only",
        {"patient.nhs_number": DELETE, "patient.given_name": "-."},
        ("patient",),
        "a patient matched by demographics needs a letter or digit in each name",
    ),
    (
        "an NHS number's trace status without an NHS number",
        {"patient.nhs_number": DELETE, "patient.nhs_number_traced": False},
        ("patient",),
        "nhs_number_traced says whether the nhs_number was traced; leave it out without an NHS number",
    ),
    (
        "an NHS number's trace status beside a local id only",
        {
            "patient.nhs_number": DELETE,
            "patient.local_id": "P-4471",
            "patient.nhs_number_traced": True,
        },
        ("patient",),
        "nhs_number_traced says whether the nhs_number was traced; leave it out without an NHS number",
    ),
    (
        "no postcode and no address",
        {"patient.postcode": DELETE},
        ("patient",),
        "a patient needs a postcode or an address",
    ),
    (
        "blank address",
        {"patient.postcode": DELETE, "patient.address": "  "},
        ("patient", "address"),
        "must not be blank",
    ),
    (
        "address over two lines",
        {"patient.address": "1 Example Road\nCroydon"},
        ("patient", "address"),
        CONTROL_MESSAGE,
    ),
    (
        "blank local id",
        {"patient.nhs_number": None, "patient.local_id": "   "},
        ("patient", "local_id"),
        "must not be blank",
    ),
    (
        "only an email at rank 1",
        {"patient.contacts": [{**EMAIL, "rank": 1}]},
        ("patient", "contacts"),
        ONE_PHONE,
    ),
    (
        "two phones at rank 1",
        {"patient.contacts": [PHONE, {**PHONE, "value": "07700900002"}]},
        ("patient", "contacts"),
        ONE_PHONE,
    ),
    (
        "only a phone at rank 2",
        {"patient.contacts": [{**PHONE, "rank": 2}]},
        ("patient", "contacts"),
        ONE_PHONE,
    ),
    (
        "no contacts at all",
        {"patient.contacts": []},
        ("patient", "contacts"),
        "at least 1 item",
    ),
    (
        "phone holding words",
        {"patient.contacts.0.value": "call me"},
        ("patient", "contacts", 0),
        NOT_UK_PHONE,
    ),
    (
        "phone abroad",
        {"patient.contacts.0.value": "+1 212 555 0100"},
        ("patient", "contacts", 0),
        NOT_UK_PHONE,
    ),
    (
        "phone too short",
        {"patient.contacts.0.value": "077009"},
        ("patient", "contacts", 0),
        NOT_UK_PHONE,
    ),
    (
        "phone with hyphens",
        {"patient.contacts.0.value": "07700-900001"},
        ("patient", "contacts", 0),
        NOT_UK_PHONE,
    ),
    (
        "phone +44 then 0",
        {"patient.contacts.0.value": "+44 07700 900001"},
        ("patient", "contacts", 0),
        NOT_UK_PHONE,
    ),
    (
        "phone without the leading 0",
        {"patient.contacts.0.value": "7700900001"},
        ("patient", "contacts", 0),
        NOT_UK_PHONE,
    ),
    (
        "email without @",
        {"patient.contacts": [PHONE, {**EMAIL, "value": "jim.example.org"}]},
        ("patient", "contacts", 1),
        NOT_EMAIL,
    ),
    (
        "email without a dotted domain",
        {"patient.contacts": [PHONE, {**EMAIL, "value": "jim@localhost"}]},
        ("patient", "contacts", 1),
        NOT_EMAIL,
    ),
    (
        "email with a space",
        {"patient.contacts": [PHONE, {**EMAIL, "value": "jim harris@example.org"}]},
        ("patient", "contacts", 1),
        NOT_EMAIL,
    ),
    (
        "contact by fax",
        {"patient.contacts.0.system": "fax"},
        ("patient", "contacts", 0, "system"),
        "String should match pattern",
    ),
    (
        "postcode of digits",
        {"patient.postcode": "12345"},
        ("patient", "postcode"),
        NOT_POSTCODE,
    ),
    (
        "postcode with a long inward code",
        {"patient.postcode": "CR0 1AAA"},
        ("patient", "postcode"),
        NOT_POSTCODE,
    ),
    (
        "postcode starting Q",
        {"patient.postcode": "QA1 1AA"},
        ("patient", "postcode"),
        NOT_POSTCODE,
    ),
    (
        "postcode with two spaces",
        {"patient.postcode": "CR0  1AA"},
        ("patient", "postcode"),
        NOT_POSTCODE,
    ),
    (
        "born tomorrow",
        {"patient.birth_date": (TODAY + timedelta(days=1)).isoformat()},
        ("patient", "birth_date"),
        "birth date cannot be in the future",
    ),
    (
        "born before 1900",
        {"patient.birth_date": "1899-12-31"},
        ("patient", "birth_date"),
        "birth date cannot be before 1900",
    ),
    (
        "no consent for direct care",
        {"consent_direct_care": False},
        ("consent_direct_care",),
        "consent for direct care is required",
    ),
    (
        "consent left out",
        {"consent_direct_care": DELETE},
        ("consent_direct_care",),
        "Field required",
    ),
    (
        "a need given twice",
        {"needs": ["sore_throat", "sore_throat"]},
        ("needs",),
        "needs must not repeat a code (sore_throat given more than once)",
    ),
    ("no needs", {"needs": []}, ("needs",), "at least 1 item"),
    (
        "a red flag given twice",
        {"red_flags": ["safeguarding", "safeguarding"]},
        ("red_flags",),
        "red_flags must not repeat a code (safeguarding",
    ),
    (
        "NUL in a given name",
        {"patient.given_name": "Ji\x00m"},
        ("patient", "given_name"),
        CONTROL_MESSAGE,
    ),
    (
        "escape in a family name",
        {"patient.family_name": "Har\x1b[31mris"},
        ("patient", "family_name"),
        CONTROL_MESSAGE,
    ),
    (
        "line break in the practitioner",
        {"referrer.practitioner": "Reception\nA"},
        ("referrer", "practitioner"),
        CONTROL_MESSAGE,
    ),
    (
        "tab in a local id",
        {"patient.local_id": "L\t1"},
        ("patient", "local_id"),
        CONTROL_MESSAGE,
    ),
    (
        "carriage return in notes",
        {"notes": "line one\r\nline two"},
        ("notes",),
        NOTES_CONTROL_MESSAGE,
    ),
    ("DEL in notes", {"notes": "oops\x7f"}, ("notes",), NOTES_CONTROL_MESSAGE),
    ("C1 next-line in notes", {"notes": "oops\x85"}, ("notes",), NOTES_CONTROL_MESSAGE),
    ("notes too long", {"notes": "x" * 4001}, ("notes",), "at most 4000 characters"),
    (
        "blank given name",
        {"patient.given_name": "  "},
        ("patient", "given_name"),
        "must not be blank",
    ),
    (
        "uti for a man",
        patient_aged(40, "male", needs=["uti"]),
        (),
        f"{UTI}; the patient's recorded sex is male",
    ),
    (
        "uti for a woman of 65",
        patient_aged(65, "female", needs=["uti"]),
        (),
        f"{UTI}; the patient is 65",
    ),
    (
        "uti for a girl of 15",
        patient_aged(15, "female", needs=["uti"]),
        (),
        f"{UTI}; the patient is 15",
    ),
    (
        "uti, sex unknown",
        patient_aged(30, "unknown", needs=["uti"]),
        (),
        f"{UTI}; the patient's recorded sex is unknown",
    ),
    (
        "uti for a man of 70",
        patient_aged(70, "male", needs=["uti"]),
        (),
        f"{UTI}; the patient's recorded sex is male and the patient is 70",
    ),
    (
        "impetigo under 1",
        patient_aged(0, needs=["impetigo"]),
        (),
        "Pharmacy First: impetigo is for patients aged 1 or over; the patient is 0",
    ),
    (
        "insect bite under 1",
        patient_aged(0, needs=["infected_insect_bite"]),
        (),
        "infected insect bites is for patients aged 1 or over; the patient is 0",
    ),
    (
        "shingles at 17",
        patient_aged(17, needs=["shingles"]),
        (),
        "Pharmacy First: shingles is for patients aged 18 or over; the patient is 17",
    ),
    (
        "sinusitis at 11",
        patient_aged(11, needs=["sinusitis"]),
        (),
        "Pharmacy First: sinusitis is for patients aged 12 or over; the patient is 11",
    ),
    (
        "sore throat at 4",
        patient_aged(4),
        (),
        "Pharmacy First: sore throat is for patients aged 5 or over; the patient is 4",
    ),
    (
        "otitis media at 18",
        patient_aged(18, needs=["acute_otitis_media"]),
        (),
        "acute otitis media is for patients aged 1 to 17; the patient is 18",
    ),
    (
        "otitis media under 1",
        patient_aged(0, needs=["acute_otitis_media"]),
        (),
        "acute otitis media is for patients aged 1 to 17; the patient is 0",
    ),
    (
        "urgent supply from a receptionist",
        {"needs": ["urgent_medicines_supply"]},
        (),
        GP_SUPPLY,
    ),
    (
        "urgent supply from a GP",
        {"needs": ["urgent_medicines_supply"], "referrer.role": "gp"},
        (),
        GP_SUPPLY,
    ),
    (
        "two pathways both refused",
        patient_aged(10, needs=["shingles", "sinusitis"]),
        (),
        "shingles is for patients aged 18 or over; the patient is 10; Pharmacy First: sinusitis is for patients aged 12",
    ),
    (
        "an unknown field",
        {"priority": "high"},
        ("priority",),
        "Extra inputs are not permitted",
    ),
    (
        "a lower-case pharmacy ODS code",
        {"chosen_pharmacy_ods": "fa001"},
        ("chosen_pharmacy_ods",),
        "String should match pattern",
    ),
]

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("lower-case postcode", {"patient.postcode": "cr0 1aa"}),
    ("postcode without a space", {"patient.postcode": "CR01AA"}),
    ("central London postcode", {"patient.postcode": "EC1A 1BB"}),
    (
        "local id instead of an NHS number",
        {"patient.nhs_number": DELETE, "patient.local_id": "H81001-000123"},
    ),
    ("both identifiers", {"patient.local_id": "H81001-000123"}),
    ("no identifier: name, date of birth and postcode", {"patient.nhs_number": DELETE}),
    (
        "no identifier: name, date of birth and address",
        {
            "patient.nhs_number": DELETE,
            "patient.postcode": DELETE,
            "patient.address": "1 Example Road, Croydon",
        },
    ),
    ("an NHS number not yet traced", {"patient.nhs_number_traced": False}),
    (
        "an address beside the postcode",
        {"patient.address": "Flat 2, 1 Example Road, Croydon"},
    ),
    ("phone written +44", {"patient.contacts.0.value": "+44 7700 900001"}),
    ("phone written with spaces", {"patient.contacts.0.value": "07700 900 001"}),
    ("ten-digit landline", {"patient.contacts.0.value": "0169 77 1234"}),
    (
        "email at rank 1 beside the rank 1 phone",
        {"patient.contacts": [PHONE, {**EMAIL, "rank": 1}]},
    ),
    (
        "phone at rank 2 beside the rank 1 phone",
        {"patient.contacts": [PHONE, {**PHONE, "rank": 2, "value": "02079460000"}]},
    ),
    (
        "notes over several lines with a tab",
        {"notes": "called at 09:10\n\tno answer\nretry after lunch"},
    ),
    (
        "names with accents and apostrophes",
        {"patient.given_name": "Siân Zoë", "patient.family_name": "O'Brien-Ní Bhriain"},
    ),
    ("uti for the youngest woman of 16", patient_aged(16, "female", needs=["uti"])),
    (
        "uti for a woman on her last day of 64",
        {
            **patient_aged(64, "female", needs=["uti"]),
            "patient.birth_date": "1961-01-16",
        },
    ),
    ("otitis media at 1", patient_aged(1, needs=["acute_otitis_media"])),
    ("otitis media at 17", patient_aged(17, needs=["acute_otitis_media"])),
    (
        "minor illness on the day of birth",
        {"patient.birth_date": TODAY.isoformat(), "needs": ["minor_illness"]},
    ),
    (
        "born on the first day of 1900",
        {"patient.birth_date": "1900-01-01", "needs": ["minor_illness"]},
    ),
    (
        "urgent supply from a pharmacist",
        {"needs": ["urgent_medicines_supply"], "referrer.role": "pharmacist"},
    ),
    (
        "network needs from a social worker, with red flags",
        {
            "needs": ["home_heating", "medicines_optimisation"],
            "referrer.role": "social_worker",
            "red_flags": ["medicines_stockpile"],
        },
    ),
]


def refusal(data: dict[str, Any]) -> ValidationError:
    with judged_on(TODAY), pytest.raises(ValidationError) as caught:
        Referral.model_validate(data)
    return caught.value


@pytest.mark.parametrize(
    ("changes", "loc", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_a_broken_rule_is_refused_with_its_own_message(
    changes: dict[str, Any], loc: tuple[str | int, ...], message: str
) -> None:
    errors = refusal(mutated(changes)).errors()
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


@pytest.mark.parametrize(
    "changes", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_a_valid_variant_is_accepted_unchanged(changes: dict[str, Any]) -> None:
    data = mutated(changes)
    with judged_on(TODAY):
        referral = Referral.model_validate(data)
    assert referral.model_dump(mode="json", exclude_defaults=True) == {
        k: v for k, v in data.items() if v is not None
    }


def test_the_baseline_referral_is_valid_on_any_day() -> None:
    for day in (TODAY, date(2030, 2, 28), date.today()):
        with judged_on(day):
            Referral.model_validate(baseline())


def test_the_table_covers_at_least_thirty_rules() -> None:
    assert len(REFUSED) >= 30
    assert len({c[0] for c in REFUSED}) == len(REFUSED)


def test_every_refusal_has_a_stable_rule_code() -> None:
    """Intake maps error types to problem details, so our own rules must not come back as generic 'value_error'."""
    errors = refusal(
        mutated({"patient.nhs_number": "3478526985", "consent_direct_care": False})
    ).errors()
    assert {e["type"] for e in errors} == {"nhs_number_check_digit", "consent_required"}


def test_refusals_never_echo_the_nhs_number_in_the_message() -> None:
    errors = refusal(mutated({"patient.nhs_number": "3478526985"})).errors()
    assert all("3478526985" not in e["msg"] for e in errors)
