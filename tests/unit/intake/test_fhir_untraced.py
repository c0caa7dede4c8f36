"""BaRS patients without a traced NHS number: taken on their demographics, and never keyed by an untraced number.

BaRS lets a sender leave the NHS number out, or send one whose UK Core
verification status says it is not traced ("02 Number present but not
traced"); a receiver must take the referral either way.
"""

from typing import Any

import pytest

from services.intake.domain.fhir import FhirRejection
from tests.unit.intake.test_fhir import (
    PATIENT,
    assert_issue,
    bundle,
    referral,
    refused,
    resource,
)

STATUS_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
STATUS_SYSTEM = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)


def verification(code: str) -> list[dict[str, Any]]:
    return [
        {
            "url": STATUS_URL,
            "valueCodeableConcept": {
                "coding": [{"system": STATUS_SYSTEM, "code": code}]
            },
        }
    ]


def test_a_patient_with_no_identifier_at_all_is_taken_on_name_birth_date_and_postcode() -> (
    None
):
    patient = referral(lambda b: resource(b, PATIENT).pop("identifier")).patient
    assert (patient.nhs_number, patient.local_id, patient.postcode) == (
        None,
        None,
        "CR0 1AA",
    )
    assert patient.untraced


@pytest.mark.hazard("HAZ-022")
def test_an_nhs_number_not_traced_is_carried_but_marked_untraced() -> None:
    patient = referral(
        lambda b: resource(b, PATIENT)["identifier"][0].update(
            extension=verification("02")
        )
    ).patient
    assert (patient.nhs_number, patient.nhs_number_traced, patient.untraced) == (
        "9434765919",
        False,
        True,
    )


def test_a_verified_nhs_number_is_traced() -> None:
    patient = referral().patient
    assert (patient.nhs_number, patient.nhs_number_traced, patient.untraced) == (
        "9434765919",
        True,
        False,
    )


def test_an_nhs_number_identifier_saying_no_number_is_present_is_no_identifier() -> (
    None
):
    """07 "Number not present and trace not required": an identifier with a status and no value."""

    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT)["identifier"] = [
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "extension": verification("07"),
            }
        ]

    patient = referral(edit).patient
    assert (patient.nhs_number, patient.local_id, patient.untraced) == (
        None,
        None,
        True,
    )


def test_without_a_postcode_the_address_lines_and_city_identify_where_the_patient_lives() -> (
    None
):
    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT).pop("identifier")
        resource(b, PATIENT)["address"] = [
            {"use": "home", "line": ["Flat 2", "1 Example Road"], "city": "Croydon"}
        ]

    patient = referral(edit).patient
    assert (patient.postcode, patient.address) == (
        None,
        "Flat 2, 1 Example Road, Croydon",
    )


def test_with_a_postcode_the_address_lines_are_not_copied() -> None:
    """The postcode is what matching uses; the rest of the address stays with the sender (minimisation)."""
    assert referral().patient.address is None


def test_an_untraced_patient_without_any_address_is_refused_saying_what_would_do() -> (
    None
):
    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT).pop("identifier")
        resource(b, PATIENT).pop("address")

    rejection = refused(bundle(edit))
    assert_issue(
        rejection,
        "required",
        "postcode (postalCode) or its address lines",
        "Bundle.entry[2].resource.address",
    )
    assert len(rejection.issues) == 1, rejection.issues


def test_an_untraced_patient_without_a_birth_date_is_refused_once_at_the_birth_date() -> (
    None
):
    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT).pop("identifier")
        resource(b, PATIENT).pop("birthDate")

    rejection: FhirRejection = refused(bundle(edit))
    assert_issue(
        rejection,
        "required",
        "Patient.birthDate is required",
        "Bundle.entry[2].resource.birthDate",
    )
    assert len(rejection.issues) == 1, rejection.issues
