"""What a BaRS client reads back: every answer parses as the FHIR resource it claims, and says no more than it should."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from services.intake.domain.bars_status import UnknownStatus
from services.intake.domain.fhir.read import (
    read_outcome,
    searchset,
    service_request,
    tasks,
)

REFERRAL = json.loads(
    (
        Path(__file__).parents[2] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
AT = "2026-12-01T10:00:00+00:00"
LATER = "2026-12-01T11:30:00+00:00"


def summary(
    status: str = "routed", body: dict[str, Any] | None = None, versions: int = 1
) -> dict[str, Any]:
    return {
        "referral_id": str(uuid.UUID(int=1)),
        "journey_id": str(uuid.UUID(int=2)),
        "status": status,
        "referrer_ods": "H81001",
        "created_at": AT,
        "updated_at": LATER,
        "versions": [
            {
                "version": v,
                "status": status,
                "source": "json",
                "created_at": AT,
                "referral": body or REFERRAL,
            }
            for v in range(1, versions + 1)
        ],
    }


def parsed(model: type[Resource], data: dict[str, Any]) -> dict[str, Any]:
    """The JSON, once ``fhir.resources`` has parsed it as ``model`` (the answer is the resource it claims)."""
    assert model.model_validate(data).get_resource_type() == data["resourceType"]
    return data


def assignment(
    n: int, status: str, detail: str | None = None, replaces: int | None = None
) -> dict[str, Any]:
    return {
        "assignment_id": str(uuid.UUID(int=100 + n)),
        "agency_id": f"agency-{n}",
        "service_id": f"service-{n}",
        "service_type": "community_pharmacy",
        "needs": ["sore_throat"],
        "status": status,
        "reason": "the patient's chosen pharmacy",
        "outcome_detail": detail,
        "replaces_assignment_id": str(uuid.UUID(int=100 + replaces))
        if replaces is not None
        else None,
        "created_at": AT,
        "updated_at": LATER,
    }


def test_the_referral_reads_as_a_service_request_with_its_mapped_status_and_current_version() -> (
    None
):
    request = parsed(ServiceRequest, service_request(summary("cancelled", versions=2)))
    assert request["id"] == str(uuid.UUID(int=1))
    assert (request["status"], request["intent"], request["priority"]) == (
        "revoked",
        "plan",
        "routine",
    )
    assert request["meta"]["versionId"] == "2"
    assert request["meta"]["tag"][0]["code"] == "cancelled", (
        "intake's own status travels as a tag"
    )
    assert (
        request["subject"]["identifier"]["value"] == REFERRAL["patient"]["nhs_number"]
    )
    assert request["requester"]["identifier"]["value"] == "H81001"
    assert request["performer"][0]["identifier"]["value"] == "FA001"
    assert [c["coding"][0]["code"] for c in request["reasonCode"]] == ["sore_throat"]


def test_a_patient_without_an_nhs_number_is_named_by_the_referrers_own_id() -> None:
    body = {
        **REFERRAL,
        "patient": {**REFERRAL["patient"], "nhs_number": None, "local_id": "MRN-1"},
    }
    request = parsed(ServiceRequest, service_request(summary(body=body)))
    assert request["subject"]["identifier"]["value"] == "MRN-1"


def test_a_status_the_mapping_does_not_know_is_refused_not_rendered() -> None:
    with pytest.raises(UnknownStatus):
        service_request(summary("on_hold"))


def test_each_assignment_is_a_task_based_on_the_service_request() -> None:
    task = parsed(Task, tasks(summary(), [assignment(1, "accepted")])[0])
    assert task["status"] == "accepted"
    assert task["basedOn"] == [{"reference": f"ServiceRequest/{uuid.UUID(int=1)}"}]
    assert task["focus"] == task["basedOn"][0]
    assert task["owner"]["identifier"]["value"] == "agency-1"
    assert task["businessStatus"]["coding"][0]["code"] == "accepted"


def test_a_completed_task_carries_how_it_was_completed_and_nothing_else() -> None:
    task = parsed(
        Task,
        tasks(summary("completed"), [assignment(1, "completed", "advice_given")])[0],
    )
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == (
        "completed",
        "patient-seen",
    )
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in task["output"]] == [
        "advice_given"
    ]
    assert "statusReason" not in task
    assert "note" not in task


def test_a_declined_part_sent_on_reads_declined_and_rerouted_with_its_reason_in_bars_codes() -> (
    None
):
    declined, rerouted = tasks(
        summary(),
        [
            assignment(1, "declined", "not_available_in_timescale"),
            assignment(2, "offered", replaces=1),
        ],
    )
    first = parsed(Task, declined)
    assert (first["status"], first["businessStatus"]["coding"][0]["code"]) == (
        "rejected",
        "declined-rerouted",
    )
    assert [
        (c["system"].rsplit("/", 1)[-1], c["code"])
        for c in first["statusReason"]["coding"]
    ] == [
        ("decline-reason", "not_available_in_timescale"),
        ("rejected-reasons-bars", "RRNA"),
    ]
    assert "output" not in first
    assert parsed(Task, rerouted)["status"] == "requested"


def test_a_did_not_attend_and_an_escalation_to_the_gp_are_told_apart() -> None:
    found = tasks(
        summary(), [assignment(1, "did_not_attend"), assignment(2, "escalated_to_gp")]
    )
    dna, back = (parsed(Task, t) for t in found)
    assert (dna["status"], dna["businessStatus"]["coding"][0]["code"]) == (
        "failed",
        "did-not-attend",
    )
    assert (back["status"], back["businessStatus"]["coding"][0]["code"]) == (
        "completed",
        "escalated-to-gp",
    )


def test_the_outcomes_are_a_searchset_bundle_whose_entries_are_addressable_tasks() -> (
    None
):
    found = tasks(
        summary(),
        [
            assignment(1, "declined", "other"),
            assignment(2, "completed", "advice_given", replaces=1),
        ],
    )
    data = searchset(
        found,
        base="https://intake.example/v1/fhir",
        self_link="https://intake.example/v1/fhir/Task?x",
    )
    bundle = parsed(Bundle, data)
    assert (bundle["type"], bundle["total"], len(bundle["entry"])) == (
        "searchset",
        2,
        2,
    )
    assert (
        bundle["entry"][0]["fullUrl"]
        == f"https://intake.example/v1/fhir/Task/{uuid.UUID(int=101)}"
    )
    assert all(
        e["search"]["mode"] == "match" and parsed(Task, e["resource"])
        for e in bundle["entry"]
    )


def test_an_empty_search_is_an_empty_searchset() -> None:
    bundle = parsed(
        Bundle,
        searchset([], base="https://i/v1/fhir", self_link="https://i/v1/fhir/Task"),
    )
    assert (bundle["total"], "entry" in bundle) == (0, False)


@pytest.mark.parametrize(
    ("status", "code", "bars"),
    [
        (400, "invalid", "REC_BAD_REQUEST"),
        (401, "security", "REC_UNAUTHORIZED"),
        (404, "not-found", "REC_NOT_FOUND"),
        (500, "exception", "REC_SERVER_ERROR"),
    ],
)
def test_read_errors_are_operation_outcomes_with_the_fhir_type_and_bars_code(
    status: int, code: str, bars: str
) -> None:
    issue = parsed(OperationOutcome, read_outcome(status, "why"))["issue"][0]
    assert (
        issue["code"],
        issue["details"]["coding"][0]["code"],
        issue["diagnostics"],
    ) == (code, bars, "why")


def test_a_read_error_may_name_its_own_issue_type() -> None:
    issue = parsed(
        OperationOutcome, read_outcome(400, "no such parameter", code="not-supported")
    )["issue"][0]
    assert (issue["code"], issue["details"]["coding"][0]["code"]) == (
        "not-supported",
        "REC_BAD_REQUEST",
    )


def test_on_a_cancelled_referral_an_open_part_reads_cancelled_and_a_finished_one_keeps_its_outcome() -> (
    None
):
    found = tasks(
        summary("cancelled"),
        [assignment(1, "did_not_attend"), assignment(2, "offered")],
    )
    finished, withdrawn = (parsed(Task, t) for t in found)
    assert finished["status"] == "failed"
    assert (withdrawn["status"], withdrawn["businessStatus"]["coding"][0]["code"]) == (
        "cancelled",
        "cancelled",
    )
