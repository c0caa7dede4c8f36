"""Which ServiceRequest a Task search names, in each form FHIR allows, and the 400 for anything else."""

import json
import uuid

import pytest
from fastapi.responses import JSONResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from starlette.datastructures import QueryParams

from services.intake.api.fhir.reads import searched_referral

REFERRAL = uuid.UUID(int=7)


@pytest.mark.parametrize(
    "query",
    [
        f"based-on=ServiceRequest/{REFERRAL}",
        f"based-on={REFERRAL}",
        f"based-on=https://intake.example/v1/fhir/ServiceRequest/{REFERRAL}",
        f"focus=ServiceRequest/{REFERRAL}",
        f"based-on=ServiceRequest/{REFERRAL}&_count=50&_format=json",
    ],
)
def test_a_search_names_one_service_request_by_id_relative_or_absolute_reference(
    query: str,
) -> None:
    assert searched_referral(QueryParams(query)) == REFERRAL


@pytest.mark.parametrize(
    ("query", "code", "says"),
    [
        ("", "invalid", "exactly one based-on"),
        (
            f"based-on=ServiceRequest/{REFERRAL}&based-on=ServiceRequest/{uuid.UUID(int=8)}",
            "invalid",
            "exactly one",
        ),
        (
            f"based-on=ServiceRequest/{REFERRAL},ServiceRequest/{uuid.UUID(int=8)}",
            "invalid",
            "exactly one",
        ),
        (
            f"based-on=ServiceRequest/{REFERRAL}&focus=ServiceRequest/{REFERRAL}",
            "invalid",
            "exactly one",
        ),
        ("based-on=Patient/9434765919", "invalid", "must reference a ServiceRequest"),
        (
            "based-on=ServiceRequest/" + "-" * 36,
            "invalid",
            "must reference a ServiceRequest",
        ),
        (
            f"based-on=ServiceRequest/{REFERRAL}&owner=Organization/FA001",
            "not-supported",
            "not owner",
        ),
        (f"patient=9434765919&based-on={REFERRAL}", "not-supported", "not patient"),
    ],
)
def test_anything_else_is_a_400_operation_outcome_that_says_what_a_search_must_be(
    query: str, code: str, says: str
) -> None:
    answer = searched_referral(QueryParams(query))
    assert isinstance(answer, JSONResponse)
    assert answer.status_code == 400
    body = json.loads(bytes(answer.body))
    issue = OperationOutcome.model_validate(body).issue[0]
    assert issue.code == code
    assert says in str(issue.diagnostics)
    assert "9434765919" not in str(issue.diagnostics), (
        "a refusal does not echo what was searched for"
    )
