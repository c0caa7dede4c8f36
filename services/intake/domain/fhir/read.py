"""A referral as a GP system that speaks BaRS reads it back: a ServiceRequest, a Task per assignment, OperationOutcome.

A practice's system does not consume Kafka. It reads the referral it made
(``GET ServiceRequest/{id}``, as BaRS senders do before a cancel) and what
became of it (``GET Task?based-on=ServiceRequest/{id}``). Each assignment is
a Task, as in BSeR's referral Task and FHIR's workflow pattern for a request
another party fulfils: ``basedOn`` and ``focus`` the ServiceRequest,
``owner`` the agency, ``status`` and ``businessStatus`` what happened
(``domain.bars_status``), ``statusReason`` why it was declined and
``output`` how it was completed. Encounter would claim a visit intake knows
nothing of, and Communication carries a message rather than a state a system
can poll. What a Task says is the minimum a referrer needs, and no more than
the JSON read shows the referrer: coded outcomes only, never the agency's
notes (intake does not keep them).

Everything here is pure: rows in, FHIR JSON out, each built and checked by
``fhir.resources`` so a response always parses as the resource it claims.
"""

import json
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from services.intake.domain.bars_status import service_request_status, task_state
from services.intake.domain.fhir.codes import (
    HTTP_ERROR_CODES,
    NHS_NUMBER,
    ODS_ORGANISATION,
    SIGNPOST_NEED,
)
from services.intake.domain.fhir.outcome import UK_CORE_OPERATION_OUTCOME

SERVICEREQUEST_CATEGORY = (
    "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest"
)
BARS_REJECTED_REASONS = "https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars"
SIGNPOST_REFERRAL = "https://signpost.nhs.example/Id/referral"
SIGNPOST_JOURNEY = "https://signpost.nhs.example/Id/journey"
SIGNPOST_ASSIGNMENT = "https://signpost.nhs.example/Id/assignment"
SIGNPOST_AGENCY = "https://signpost.nhs.example/Id/agency"
SIGNPOST_LOCAL_PATIENT = "https://signpost.nhs.example/Id/local-patient-id"
SIGNPOST_REFERRAL_STATUS = "https://signpost.nhs.example/CodeSystem/referral-status"
SIGNPOST_ASSIGNMENT_OUTCOME = (
    "https://signpost.nhs.example/CodeSystem/assignment-outcome"
)
SIGNPOST_SERVICE_TYPE = "https://signpost.nhs.example/CodeSystem/service-type"
SIGNPOST_DECLINE_REASON = "https://signpost.nhs.example/CodeSystem/decline-reason"
SIGNPOST_COMPLETION = "https://signpost.nhs.example/CodeSystem/completion-outcome"

# BaRS's two rejection reasons: not available within the timescale, and other.
_BARS_REJECTION = {
    "not_available_in_timescale": (
        "RRNA",
        "Requested resource not available within timescale",
    )
}
_OTHER_REJECTION = ("OTH", "Other")
# FHIR issue type and BaRS HTTP error code for each error a read can answer.
_READ_ERRORS = {
    400: ("invalid", "REC_BAD_REQUEST"),
    401: ("security", "REC_UNAUTHORIZED"),
    404: ("not-found", "REC_NOT_FOUND"),
    500: ("exception", "REC_SERVER_ERROR"),
}


def service_request(summary: dict[str, Any]) -> dict[str, Any]:
    """The referral's current version as a ServiceRequest, with intake's status mapped to BaRS's."""
    latest = summary["versions"][-1]
    body: dict[str, Any] = latest["referral"]
    request = ServiceRequest(
        id=summary["referral_id"],
        meta={
            "versionId": str(latest["version"]),
            "lastUpdated": summary["updated_at"],
            "tag": [{"system": SIGNPOST_REFERRAL_STATUS, "code": summary["status"]}],
        },
        identifier=[
            {"system": SIGNPOST_REFERRAL, "value": summary["referral_id"]},
            {"system": SIGNPOST_JOURNEY, "value": summary["journey_id"]},
        ],
        status=service_request_status(summary["status"]),
        intent="plan",
        category=[
            {"coding": [{"system": SERVICEREQUEST_CATEGORY, "code": "referral"}]}
        ],
        priority=body.get("urgency") or "routine",
        subject=_patient(body.get("patient") or {}),
        authoredOn=summary["created_at"],
        requester=_organisation(summary["referrer_ods"]),
        performer=[_organisation(body["chosen_pharmacy_ods"])]
        if body.get("chosen_pharmacy_ods")
        else None,
        reasonCode=[
            {"coding": [{"system": SIGNPOST_NEED, "code": need}]}
            for need in body.get("needs", ())
        ]
        or None,
    )
    return _as_json(request)


def tasks(
    summary: dict[str, Any], assignments: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One Task per assignment, in the order they were made; a declined part sent on says it was rerouted."""
    replaced = {
        a["replaces_assignment_id"]
        for a in assignments
        if a.get("replaces_assignment_id")
    }
    return [
        task(summary, a, rerouted=a["assignment_id"] in replaced) for a in assignments
    ]


def task(
    summary: dict[str, Any], assignment: dict[str, Any], *, rerouted: bool
) -> dict[str, Any]:
    state = task_state(
        assignment["status"],
        rerouted=rerouted,
        referral_cancelled=summary["status"] == "cancelled",
    )
    based_on = {"reference": f"ServiceRequest/{summary['referral_id']}"}
    built = Task(
        id=assignment["assignment_id"],
        meta={"lastUpdated": assignment["updated_at"]},
        identifier=[
            {"system": SIGNPOST_ASSIGNMENT, "value": assignment["assignment_id"]}
        ],
        basedOn=[based_on],
        focus=based_on,
        status=state.status,
        businessStatus={
            "coding": [
                {
                    "system": SIGNPOST_ASSIGNMENT_OUTCOME,
                    "code": state.business_status,
                    "display": state.display,
                }
            ],
            "text": state.display,
        },
        statusReason=_decline_reason(assignment),
        intent="order",
        code={
            "coding": [
                {"system": SIGNPOST_SERVICE_TYPE, "code": assignment["service_type"]}
            ]
        },
        description=assignment["reason"],
        authoredOn=assignment["created_at"],
        lastModified=assignment["updated_at"],
        requester=_organisation(summary["referrer_ods"]),
        owner={
            "identifier": {"system": SIGNPOST_AGENCY, "value": assignment["agency_id"]}
        },
        output=_completion(assignment),
    )
    return _as_json(built)


def searchset(
    resources: Sequence[dict[str, Any]], *, base: str, self_link: str
) -> dict[str, Any]:
    """A search's matches as a searchset Bundle whose every entry is addressable at ``base``."""
    bundle = Bundle(
        type="searchset",
        total=len(resources),
        link=[{"relation": "self", "url": self_link}],
        entry=[
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    )
    return _as_json(bundle)


def read_outcome(
    status: int, diagnostics: str, *, code: str | None = None
) -> dict[str, Any]:
    """An error of a read as OperationOutcome (UK Core), with the FHIR issue type and BaRS code for ``status``."""
    default, bars_code = _READ_ERRORS[status]
    outcome = OperationOutcome(
        meta={"profile": [UK_CORE_OPERATION_OUTCOME]},
        issue=[
            {
                "severity": "error",
                "code": code or default,
                "details": {
                    "coding": [{"system": HTTP_ERROR_CODES, "code": bars_code}]
                },
                "diagnostics": diagnostics,
            }
        ],
    )
    return _as_json(outcome)


def _patient(patient: dict[str, Any]) -> dict[str, Any]:
    """A logical reference: the NHS number when there is one, else the referrer's own id, else the name it gave."""
    if patient.get("nhs_number"):
        return {"identifier": {"system": NHS_NUMBER, "value": patient["nhs_number"]}}
    if patient.get("local_id"):
        return {
            "identifier": {
                "system": SIGNPOST_LOCAL_PATIENT,
                "value": patient["local_id"],
            }
        }
    name = " ".join(
        p for p in (patient.get("given_name"), patient.get("family_name")) if p
    )
    return {"display": name or "patient without an identifier"}


def _organisation(ods_code: str) -> dict[str, Any]:
    return {
        "type": "Organization",
        "identifier": {"system": ODS_ORGANISATION, "value": ods_code},
    }


def _decline_reason(assignment: dict[str, Any]) -> dict[str, Any] | None:
    reason = assignment.get("outcome_detail")
    if assignment["status"] != "declined" or not reason:
        return None
    bars_code, bars_display = _BARS_REJECTION.get(reason, _OTHER_REJECTION)
    return {
        "coding": [
            {"system": SIGNPOST_DECLINE_REASON, "code": reason},
            {
                "system": BARS_REJECTED_REASONS,
                "code": bars_code,
                "display": bars_display,
            },
        ]
    }


def _completion(assignment: dict[str, Any]) -> list[dict[str, Any]] | None:
    outcome = assignment.get("outcome_detail")
    if assignment["status"] != "completed" or not outcome:
        return None
    return [
        {
            "type": {"text": "How the service completed its part"},
            "valueCodeableConcept": {
                "coding": [{"system": SIGNPOST_COMPLETION, "code": outcome}]
            },
        }
    ]


def _as_json(resource: Resource) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resource.model_dump_json())
    return data
