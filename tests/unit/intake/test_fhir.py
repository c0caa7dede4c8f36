"""BaRS referral messages in: what maps onto a Referral, what is refused and how the refusal reads."""

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.referral import Referral
from schemas.vocabulary import RedFlag, ReferrerRole, Urgency
from services.intake.domain.fhir import (
    FhirRejection,
    Issue,
    IssueCode,
    accepted_outcome,
    operation_outcome,
    parse_bundle,
    to_referral,
)

DATA = Path(__file__).parents[2] / "support" / "data"
SAMPLE: dict[str, Any] = json.loads(
    (DATA / "bars_servicerequest_bundle.json").read_text()
)
EXPECTED = Referral.model_validate_json(
    (DATA / "pharmacy_first_referral.json").read_text()
)

# Where the sample keeps each resource.
(
    HEADER,
    REQUEST,
    PATIENT,
    GP_PRACTICE,
    PHARMACY,
    ROLE,
    PRACTITIONER,
    CONSENT,
    ENCOUNTER,
) = range(9)
PATIENT_URL = SAMPLE["entry"][PATIENT]["fullUrl"]

NEED_SYSTEM = "https://signpost.nhs.example/CodeSystem/need"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

Edit = Callable[[dict[str, Any]], None]


def bundle(edit: Edit | None = None) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(SAMPLE)
    if edit is not None:
        edit(data)
    return data


def resource(data: dict[str, Any], index: int) -> dict[str, Any]:
    found: dict[str, Any] = data["entry"][index]["resource"]
    return found


def referral(edit: Edit | None = None) -> Referral:
    return to_referral(parse_bundle(bundle(edit)))


def refused(body: bytes | dict[str, Any]) -> FhirRejection:
    with pytest.raises(FhirRejection) as caught:
        to_referral(parse_bundle(body))
    return caught.value


def assert_issue(
    rejection: FhirRejection, code: IssueCode, text: str, expression: str | None = None
) -> Issue:
    matching = [i for i in rejection.issues if i.code == code and text in i.diagnostics]
    assert matching, f"no {code} issue mentioning {text!r} in {rejection.issues}"
    if expression is not None:
        assert expression in [i.expression for i in matching], (
            f"{expression} not among {matching}"
        )
    return matching[0]


def flag(
    category: tuple[str, str] | None = None,
    code: tuple[str, str] | None = None,
    status: str = "active",
) -> dict[str, Any]:
    concept = (
        {"coding": [{"system": code[0], "code": code[1]}]}
        if code
        else {"text": "see category"}
    )
    found: dict[str, Any] = {
        "resourceType": "Flag",
        "status": status,
        "code": concept,
        "subject": {"reference": PATIENT_URL},
    }
    if category:
        found["category"] = [{"coding": [{"system": category[0], "code": category[1]}]}]
    return {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": found}


# --- the sample -------------------------------------------------------------------------------


def test_the_sample_bundle_maps_to_the_json_sample_referral() -> None:
    assert referral() == EXPECTED


@pytest.mark.parametrize("field", list(Referral.model_fields))
def test_each_field_of_the_sample_matches_the_json_sample(field: str) -> None:
    assert getattr(referral(), field) == getattr(EXPECTED, field)


def test_the_sample_arrives_as_bytes_too() -> None:
    assert to_referral(parse_bundle(json.dumps(SAMPLE).encode())) == EXPECTED


def test_the_parsed_message_points_at_its_parts() -> None:
    message = parse_bundle(bundle())
    assert message.header.path == "Bundle.entry[0].resource"
    assert message.service_request.path == "Bundle.entry[1].resource"
    assert message.patient.resource.birthDate is not None
    assert message.reason == "new"


# --- mapping ----------------------------------------------------------------------------------


def test_priority_becomes_urgency() -> None:
    assert (
        referral(lambda b: resource(b, REQUEST).update(priority="urgent")).urgency
        is Urgency.URGENT
    )


def test_no_priority_is_routine() -> None:
    assert (
        referral(lambda b: resource(b, REQUEST).pop("priority")).urgency
        is Urgency.ROUTINE
    )


def test_notes_come_from_service_request_notes() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, REQUEST)["note"] = [
            {"text": "Prefers afternoons."},
            {"text": "Hard of hearing."},
        ]

    assert referral(edit).notes == "Prefers afternoons.\n\nHard of hearing."


def test_a_snomed_pathway_code_alone_names_the_need() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, REQUEST)["reasonCode"] = [
            {"coding": [{"system": "http://snomed.info/sct", "code": "4740000"}]}
        ]

    assert [n.value for n in referral(edit).needs] == ["shingles"]


def test_flags_become_red_flags_and_inactive_ones_are_ignored() -> None:
    def edit(b: dict[str, Any]) -> None:
        b["entry"] += [
            flag(
                category=("https://fhir.nhs.uk/CodeSystem/flag-categories-bars", "SG")
            ),
            flag(
                code=(
                    "https://signpost.nhs.example/CodeSystem/red-flag",
                    "medicines_stockpile",
                )
            ),
            flag(
                code=(
                    "https://signpost.nhs.example/CodeSystem/red-flag",
                    "expired_medicines",
                ),
                status="inactive",
            ),
            flag(
                category=("https://fhir.nhs.uk/CodeSystem/flag-categories-bars", "RA")
            ),
        ]

    assert referral(edit).red_flags == (
        RedFlag.SAFEGUARDING,
        RedFlag.MEDICINES_STOCKPILE,
    )


def test_a_patient_without_nhs_number_is_referred_on_the_senders_identifier() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT)["identifier"] = [
            {"system": "https://practice.example.nhs.uk/Id/patient", "value": "P-4471"}
        ]

    patient = referral(edit).patient
    assert (patient.nhs_number, patient.local_id) == (None, "P-4471")


def test_a_requester_practitioner_is_read_with_the_practitioner_role_beside_it() -> (
    None
):
    def edit(b: dict[str, Any]) -> None:
        resource(b, REQUEST)["requester"] = {
            "reference": b["entry"][PRACTITIONER]["fullUrl"]
        }

    assert referral(edit).referrer == EXPECTED.referrer


def test_the_referrer_role_can_be_a_snomed_occupation() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, ROLE)["code"] = [
            {"coding": [{"system": "http://snomed.info/sct", "code": "62247001"}]}
        ]

    assert referral(edit).referrer.role is ReferrerRole.GP


def test_the_pharmacy_can_be_a_healthcare_service_and_ods_ids_lower_case() -> None:
    def edit(b: dict[str, Any]) -> None:
        service = {
            "resourceType": "HealthcareService",
            "providedBy": {"reference": b["entry"][PHARMACY]["fullUrl"]},
        }
        b["entry"].append(
            {
                "fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555",
                "resource": service,
            }
        )
        resource(b, REQUEST)["performer"] = [
            {"reference": "urn:uuid:11111111-2222-4333-8444-555555555555"}
        ]
        resource(b, PHARMACY)["identifier"][0]["system"] = (
            "https://fhir.nhs.uk/id/ods-organization-code"
        )

    assert referral(edit).chosen_pharmacy_ods == "FA001"


def test_no_performer_means_no_chosen_pharmacy() -> None:
    assert (
        referral(lambda b: resource(b, REQUEST).pop("performer")).chosen_pharmacy_ods
        is None
    )


def test_unranked_contacts_follow_phone_first() -> None:
    def edit(b: dict[str, Any]) -> None:
        email, phone = (
            {"system": "email", "value": "jim@example.org"},
            {"system": "phone", "value": "07700900001"},
        )
        resource(b, PATIENT)["telecom"] = [email, phone]

    contacts = referral(edit).patient.contacts
    assert [(c.system, c.rank) for c in contacts] == [("email", 2), ("phone", 1)]


def test_the_patients_own_contact_entry_gives_numbers_when_telecom_is_empty() -> None:
    def edit(b: dict[str, Any]) -> None:
        patient = resource(b, PATIENT)
        patient["contact"] = [
            {
                "relationship": [
                    {"coding": [{"system": ROLE_CODES, "code": "ONESELF"}]}
                ],
                "telecom": patient.pop("telecom"),
            }
        ]

    assert referral(edit).patient.contacts == EXPECTED.patient.contacts


# --- refused envelopes --------------------------------------------------------------------------


def test_not_json_is_a_structure_issue() -> None:
    assert_issue(refused(b"<Bundle/>"), "structure", "not JSON")


def test_a_resource_other_than_a_bundle_is_refused() -> None:
    assert_issue(
        refused({"resourceType": "Patient"}), "structure", "expected a FHIR Bundle"
    )


def test_a_collection_bundle_is_not_a_message() -> None:
    rejection = refused(bundle(lambda b: b.update(type="collection")))
    assert_issue(rejection, "value", "must be 'message'", "Bundle.type")


def test_a_bundle_without_message_header_is_refused() -> None:
    rejection = refused(bundle(lambda b: b["entry"].pop(HEADER)))
    assert_issue(
        rejection,
        "structure",
        "must be a MessageHeader, found ServiceRequest",
        "Bundle.entry[0]",
    )


def test_an_event_other_than_servicerequest_request_is_not_supported() -> None:
    rejection = refused(
        bundle(
            lambda b: resource(b, HEADER)["eventCoding"].update(
                code="servicerequest-response"
            )
        )
    )
    assert_issue(
        rejection,
        "not-supported",
        "servicerequest-response",
        "Bundle.entry[0].resource.eventCoding",
    )


def test_a_focus_on_something_other_than_a_service_request_is_invalid() -> None:
    rejection = refused(
        bundle(lambda b: resource(b, HEADER).update(focus=[{"reference": PATIENT_URL}]))
    )
    assert_issue(
        rejection,
        "invalid",
        "must reference a ServiceRequest",
        "Bundle.entry[0].resource.focus[0]",
    )


def test_a_message_without_its_service_request_has_a_dangling_focus() -> None:
    rejection = refused(bundle(lambda b: b["entry"].pop(REQUEST)))
    assert_issue(
        rejection, "invalid", "does not resolve", "Bundle.entry[0].resource.focus[0]"
    )


def test_a_message_without_focus_is_refused() -> None:
    rejection = refused(bundle(lambda b: resource(b, HEADER).pop("focus")))
    assert_issue(rejection, "required", "focus must reference the ServiceRequest")


def test_a_missing_patient_leaves_the_subject_dangling() -> None:
    rejection = refused(bundle(lambda b: b["entry"].pop(PATIENT)))
    assert_issue(
        rejection,
        "invalid",
        f"{PATIENT_URL!r} does not resolve",
        "Bundle.entry[1].resource.subject",
    )


def test_two_entries_may_not_share_a_full_url() -> None:
    def edit(b: dict[str, Any]) -> None:
        b["entry"][ENCOUNTER]["fullUrl"] = b["entry"][CONSENT]["fullUrl"]

    assert_issue(
        refused(bundle(edit)),
        "structure",
        "more than one entry",
        f"Bundle.entry[{ENCOUNTER}].fullUrl",
    )


def test_an_unknown_resource_type_is_a_structure_issue() -> None:
    rejection = refused(
        bundle(lambda b: resource(b, ENCOUNTER).update(resourceType="Encounterish"))
    )
    assert_issue(
        rejection,
        "structure",
        "unknown FHIR resourceType 'Encounterish'",
        f"Bundle.entry[{ENCOUNTER}].resource",
    )


def test_a_resource_without_resource_type_is_a_structure_issue() -> None:
    rejection = refused(bundle(lambda b: resource(b, ENCOUNTER).pop("resourceType")))
    assert_issue(
        rejection,
        "structure",
        "without resourceType",
        f"Bundle.entry[{ENCOUNTER}].resource",
    )


def test_an_unknown_contained_resource_type_is_a_structure_issue() -> None:
    rejection = refused(
        bundle(
            lambda b: resource(b, PATIENT).update(contained=[{"resourceType": "Foo"}])
        )
    )
    assert_issue(rejection, "structure", "unknown FHIR resourceType 'Foo'")


def test_absurdly_deep_json_is_refused_before_it_exhausts_the_stack() -> None:
    assert_issue(
        refused(b"[" * 100_000 + b"]" * 100_000), "structure", "nested more than"
    )
    deep: dict[str, Any] = {"url": "https://example.org/x", "valueString": "x"}
    for _ in range(200):
        deep = {"url": "https://example.org/x", "extension": [deep]}
    assert_issue(
        refused(bundle(lambda b: resource(b, PATIENT).update(extension=[deep]))),
        "structure",
        "nested more than",
    )


def test_invalid_fhir_lists_every_path_at_fault() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT)["birthDate"] = "1950-13-01"
        resource(b, PATIENT)["telecom"][0]["rank"] = 0

    rejection = refused(bundle(edit))
    assert_issue(rejection, "structure", "Date", "Bundle.entry[2].resource.birthDate")
    assert_issue(
        rejection,
        "structure",
        "greater than or equal to 1",
        "Bundle.entry[2].resource.telecom[0].rank",
    )


# --- refused content --------------------------------------------------------------------------


def test_a_bad_nhs_number_fails_the_check_digit() -> None:
    rejection = refused(
        bundle(
            lambda b: resource(b, PATIENT)["identifier"][0].update(value="9434765918")
        )
    )
    assert_issue(
        rejection,
        "value",
        "NHS number fails the modulus 11 check",
        "Bundle.entry[2].resource.identifier[0].value",
    )


def test_an_unknown_signpost_need_code_is_refused() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, REQUEST)["reasonCode"] = [
            {"coding": [{"system": NEED_SYSTEM, "code": "earache"}]}
        ]

    assert_issue(
        refused(bundle(edit)),
        "value",
        "unknown need code 'earache'",
        "Bundle.entry[1].resource.reasonCode[0]",
    )


def test_a_reason_with_no_routable_code_is_not_supported() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, REQUEST)["reasonCode"] = [
            {"coding": [{"system": "http://snomed.info/sct", "code": "25064002"}]}
        ]

    assert_issue(
        refused(bundle(edit)), "not-supported", "http://snomed.info/sct|25064002"
    )


def test_an_invalid_gender_is_refused_at_patient_gender() -> None:
    rejection = refused(bundle(lambda b: resource(b, PATIENT).update(gender="bloke")))
    assert_issue(rejection, "value", "patient.sex", "Bundle.entry[2].resource.gender")


def test_a_partial_birth_date_is_refused() -> None:
    rejection = refused(bundle(lambda b: resource(b, PATIENT).update(birthDate="1950")))
    assert_issue(rejection, "value", "full date", "Bundle.entry[2].resource.birthDate")


def test_absent_consent_is_a_business_rule() -> None:
    def edit(b: dict[str, Any]) -> None:
        b["entry"].pop(CONSENT)
        resource(b, REQUEST).pop("supportingInfo")

    assert_issue(
        refused(bundle(edit)),
        "business-rule",
        "consent for direct care is required (the Bundle has no Consent",
    )


def test_inactive_consent_is_a_business_rule() -> None:
    rejection = refused(
        bundle(lambda b: resource(b, CONSENT).update(status="inactive"))
    )
    assert_issue(
        rejection,
        "business-rule",
        "status 'inactive'",
        f"Bundle.entry[{CONSENT}].resource",
    )


def test_consent_for_something_other_than_direct_care_does_not_count() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, CONSENT)["category"] = [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}
        ]

    assert_issue(refused(bundle(edit)), "business-rule", "is not for direct care")


def test_a_referral_outside_the_pharmacy_first_pathway_is_refused() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, REQUEST)["reasonCode"] = [
            {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "1090711000000102"}
                ]
            }
        ]

    assert_issue(
        refused(bundle(edit)),
        "business-rule",
        "Pharmacy First: uncomplicated UTI",
        "Bundle.entry[1].resource",
    )


def test_stat_priority_is_not_supported() -> None:
    rejection = refused(bundle(lambda b: resource(b, REQUEST).update(priority="stat")))
    assert_issue(
        rejection, "not-supported", "'stat'", "Bundle.entry[1].resource.priority"
    )


def test_an_update_message_is_not_a_new_referral() -> None:
    rejection = refused(
        bundle(
            lambda b: resource(b, HEADER)["reason"]["coding"][0].update(code="update")
        )
    )
    assert_issue(
        rejection, "not-supported", "reason 'update'", "Bundle.entry[0].resource.reason"
    )


def test_a_revoked_service_request_is_not_a_new_referral() -> None:
    rejection = refused(bundle(lambda b: resource(b, REQUEST).update(status="revoked")))
    assert_issue(
        rejection, "business-rule", "'revoked'", "Bundle.entry[1].resource.status"
    )


def test_an_unknown_referrer_role_is_not_supported() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, ROLE)["code"] = [
            {"coding": [{"system": "http://snomed.info/sct", "code": "158965000"}]}
        ]

    assert_issue(
        refused(bundle(edit)),
        "not-supported",
        "PractitionerRole.code",
        f"Bundle.entry[{ROLE}].resource.code",
    )


def test_a_referral_without_requester_is_refused() -> None:
    rejection = refused(bundle(lambda b: resource(b, REQUEST).pop("requester")))
    assert_issue(
        rejection,
        "required",
        "PractitionerRole or Practitioner",
        "Bundle.entry[1].resource.requester",
    )


def test_consent_scoped_to_treatment_is_consent_for_direct_care() -> None:
    def edit(b: dict[str, Any]) -> None:
        consent = resource(b, CONSENT)
        consent["scope"]["coding"][0]["code"] = "treatment"
        consent["category"] = [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}
        ]

    assert referral(edit).consent_direct_care is True


def test_an_unknown_red_flag_code_is_refused() -> None:
    def edit(b: dict[str, Any]) -> None:
        b["entry"].append(
            flag(code=("https://signpost.nhs.example/CodeSystem/red-flag", "untidy"))
        )

    assert_issue(refused(bundle(edit)), "value", "unknown red flag code 'untidy'")


def test_a_patient_without_gp_practice_is_refused() -> None:
    rejection = refused(
        bundle(lambda b: resource(b, PATIENT).pop("generalPractitioner"))
    )
    assert_issue(
        rejection,
        "required",
        "GP practice by ODS code",
        "Bundle.entry[2].resource.generalPractitioner",
    )


def test_every_problem_is_reported_at_once() -> None:
    def edit(b: dict[str, Any]) -> None:
        resource(b, PATIENT)["identifier"][0]["value"] = "9434765918"
        resource(b, PATIENT)["telecom"][0]["value"] = "12345"
        resource(b, REQUEST)["reasonCode"][0]["coding"][1]["code"] = "earache"

    rejection = refused(bundle(edit))
    assert_issue(rejection, "value", "modulus 11")
    assert_issue(
        rejection,
        "value",
        "phone must be a UK number",
        "Bundle.entry[2].resource.telecom[0]",
    )
    assert_issue(rejection, "value", "unknown need code")
    assert len(rejection.issues) == 3


def _paths(
    node: object, path: tuple[str | int, ...] = ()
) -> list[tuple[str | int, ...]]:
    children: list[tuple[str | int, object]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    return [path] + [p for key, child in children for p in _paths(child, (*path, key))]


SAMPLE_PATHS = [p for p in _paths(SAMPLE) if p]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(deadline=None, max_examples=300)
@given(path=st.sampled_from(SAMPLE_PATHS), value=JSON)
def test_any_single_corruption_is_mapped_or_refused_never_crashes(
    path: tuple[str | int, ...], value: object
) -> None:
    def edit(b: dict[str, Any]) -> None:
        parent: Any = b
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value

    try:
        to_referral(parse_bundle(bundle(edit)))
    except FhirRejection as rejection:
        OperationOutcome.model_validate(operation_outcome(rejection.issues))


# --- OperationOutcome -------------------------------------------------------------------------


def test_a_rejection_renders_as_a_valid_operation_outcome() -> None:
    rejection = refused(
        bundle(
            lambda b: resource(b, PATIENT)["identifier"][0].update(value="9434765918")
        )
    )
    outcome = operation_outcome(rejection.issues)
    OperationOutcome.model_validate(outcome)
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == "value"
    assert issue["expression"] == ["Bundle.entry[2].resource.identifier[0].value"]
    assert issue["details"]["coding"][0]["code"] == "REC_BAD_REQUEST"
    assert rejection.http_status == 400


def test_a_business_rule_refusal_is_unprocessable() -> None:
    rejection = refused(
        bundle(lambda b: resource(b, CONSENT).update(status="inactive"))
    )
    outcome = operation_outcome(rejection.issues)
    assert (
        outcome["issue"][0]["details"]["coding"][0]["code"]
        == "REC_UNPROCESSABLE_ENTITY"
    )
    assert rejection.http_status == 422


def test_an_issue_without_expression_leaves_it_out() -> None:
    outcome = operation_outcome([Issue("structure", "body is not JSON")])
    OperationOutcome.model_validate(outcome)
    assert "expression" not in outcome["issue"][0]


def test_the_accepted_outcome_is_informational_and_names_the_referral() -> None:
    outcome = accepted_outcome("3f2b8c1e-0000-4000-8000-000000000001")
    OperationOutcome.model_validate(outcome)
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("information", "informational")
    assert "3f2b8c1e-0000-4000-8000-000000000001" in issue["details"]["text"]


def test_a_rejection_needs_an_issue() -> None:
    with pytest.raises(ValueError, match="at least one issue"):
        FhirRejection([])
