"""A patient without a traced NHS number on the real stack: referable, keyed by demographics, linked once traced.

Each test makes up a patient of its own (a random surname), so no test sees
another's referrals or links, whatever order they run in, on the shared stack too.
"""

import copy
import json
import random
import string
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.patients import made_up_nhs_number
from tests.support.running_stack import audit_trail, bearer, eventually, log_text
from toolbox.stack import Stack

DATA = Path(__file__).parents[1] / "support" / "data"
REFERRAL: dict[str, Any] = json.loads(
    (DATA / "pharmacy_first_referral.json").read_text()
)
BUNDLE: dict[str, Any] = json.loads(
    (DATA / "bars_servicerequest_bundle.json").read_text()
)
STATUS_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
STATUS_SYSTEM = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)


def made_up_surname() -> str:
    return "Q" + "".join(random.choices(string.ascii_lowercase, k=10))


def referral_for(
    surname: str, nhs_number: str | None = None, **patient: Any
) -> dict[str, Any]:
    body = copy.deepcopy(REFERRAL)
    body["patient"].pop("nhs_number")
    body["patient"].update(family_name=surname, birth_date="1971-07-04", **patient)
    if nhs_number:
        body["patient"]["nhs_number"] = nhs_number
    return body


def submit(stack: Stack, body: dict[str, Any]) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals", json=body, headers=bearer(), timeout=10
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def submitted(stack: Stack, referral_id: str) -> dict[str, Any]:
    """The referral.submitted row audit recorded for the referral: its key, and what it said about the patient."""

    def row() -> dict[str, Any] | None:
        return next(
            (
                e
                for e in audit_trail(stack, referral_id)
                if e["event_type"] == "referral.submitted"
            ),
            None,
        )

    found: dict[str, Any] = eventually(
        row, what=f"audit to record {referral_id} as submitted"
    )
    return found


def patient_trail(stack: Stack, referral_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{stack.url('audit')}/v1/referrals/{referral_id}/patient-trail",
        headers=bearer("operations"),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def referrals_in(trail: dict[str, Any]) -> set[str]:
    return {
        e["referral_id"]
        for e in trail["events"]
        if e["event_type"] == "referral.submitted"
    }


@pytest.mark.hazard("HAZ-022")
def test_an_untraced_patient_is_linked_when_traced_and_both_trails_join_in_audit(
    shared_stack: Stack,
) -> None:
    surname, nhs_number = made_up_surname(), made_up_nhs_number()
    before = submit(shared_stack, referral_for(surname))
    # The same patient, traced, as another system types them.
    traced = submit(
        shared_stack,
        referral_for(
            f" {surname.upper()}-", nhs_number, given_name="JIM", postcode="cr01aa"
        ),
    )
    after = submit(shared_stack, referral_for(surname.lower(), postcode="CR01AA"))

    first, link, then = (submitted(shared_stack, r) for r in (before, traced, after))
    assert first["payload"]["untraced"] is True
    assert first["payload"]["linked_patient_keys"] == []
    assert link["payload"]["untraced"] is False
    assert link["payload"]["linked_patient_keys"] == [first["patient_key"]]
    assert link["patient_key"] != first["patient_key"]
    # From the link on, the patient travels under one key, untraced or not.
    assert then["patient_key"] == link["patient_key"]
    assert then["payload"]["untraced"] is True

    for referral_id in (before, traced, after):
        trail = patient_trail(shared_stack, referral_id)
        assert referrals_in(trail) == {before, traced, after}
        assert set(trail["patient_keys"]) == {first["patient_key"], link["patient_key"]}
    # Searching by the NHS number finds the referral made before the patient was traced.
    search = httpx.post(
        f"{shared_stack.url('audit')}/v1/audit/search",
        json={"nhs_number": nhs_number},
        headers=bearer("operations"),
        timeout=10,
    )
    assert search.status_code == 200, search.text
    assert {before, traced, after} <= {
        e["referral_id"] for e in search.json()["events"]
    }
    for service in ("intake", "router", "notifier", "audit"):
        assert surname.lower() not in log_text(shared_stack, service).lower(), (
            f"{service} logged the patient's name"
        )


def test_a_patient_trail_is_for_operations_only(shared_stack: Stack) -> None:
    referral_id = submit(shared_stack, referral_for(made_up_surname()))
    submitted(shared_stack, referral_id)
    url = f"{shared_stack.url('audit')}/v1/referrals/{referral_id}/patient-trail"
    refused = httpx.get(url, headers=bearer("agency-demo-pharmacy"), timeout=10)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    unknown = httpx.get(
        url.replace(referral_id, "00000000-0000-4000-8000-000000000000"),
        headers=bearer("operations"),
        timeout=10,
    )
    assert unknown.status_code == 404, unknown.text


@pytest.mark.hazard("HAZ-022")
def test_demographics_two_nhs_numbers_share_link_neither(shared_stack: Stack) -> None:
    surname = made_up_surname()
    one = submitted(
        shared_stack,
        submit(shared_stack, referral_for(surname, made_up_nhs_number())),
    )
    other = submitted(
        shared_stack,
        submit(shared_stack, referral_for(surname, made_up_nhs_number())),
    )
    untraced = submitted(shared_stack, submit(shared_stack, referral_for(surname)))
    assert one["payload"]["linked_patient_keys"] == [untraced["patient_key"]]
    assert other["payload"]["linked_patient_keys"] == []
    # The untraced referral could be either person: it stays under its own key, linked to nobody.
    assert untraced["patient_key"] not in (one["patient_key"], other["patient_key"])
    assert untraced["payload"]["linked_patient_keys"] == []


def test_the_422s_that_remain_name_what_is_missing(shared_stack: Stack) -> None:
    body = referral_for(made_up_surname())
    del body["patient"]["birth_date"], body["patient"]["postcode"]
    response = httpx.post(
        f"{shared_stack.url('intake')}/v1/referrals",
        json=body,
        headers=bearer(),
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "missing: birth_date, postcode or address" in response.text


def fhir_bundle(
    surname: str, identifier: list[dict[str, Any]] | None
) -> dict[str, Any]:
    bundle = copy.deepcopy(BUNDLE)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            patient = entry["resource"]
            patient["name"][0]["family"] = surname
            patient["birthDate"] = "1971-07-04"
            if identifier is None:
                patient.pop("identifier")
            else:
                patient["identifier"] = identifier
    return bundle


def post_fhir(stack: Stack, bundle: dict[str, Any]) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/fhir/$process-message",
        content=json.dumps(bundle).encode(),
        headers={**bearer(), "Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    diagnostics: str = response.json()["issue"][0]["diagnostics"]
    return diagnostics.removeprefix("referral_id=")


@pytest.mark.hazard("HAZ-022")
@pytest.mark.parametrize("form", ["no NHS number", "NHS number not traced"])
def test_a_bars_patient_without_a_traced_nhs_number_is_accepted_and_matched_like_json(
    shared_stack: Stack, form: str
) -> None:
    surname = made_up_surname()
    not_traced = {
        "valueCodeableConcept": {"coding": [{"system": STATUS_SYSTEM, "code": "02"}]},
        "url": STATUS_URL,
    }
    identifier = (
        None
        if form == "no NHS number"
        else [
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": made_up_nhs_number(),
                "extension": [not_traced],
            }
        ]
    )
    by_fhir = submitted(
        shared_stack, post_fhir(shared_stack, fhir_bundle(surname, identifier))
    )
    by_json = submitted(shared_stack, submit(shared_stack, referral_for(surname)))
    assert by_fhir["payload"]["untraced"] is True
    # An untraced number neither keys nor links: the FHIR patient has the JSON one's demographic key.
    assert by_fhir["patient_key"] == by_json["patient_key"]
