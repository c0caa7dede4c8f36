"""A GP system that speaks BaRS reads back its referral and what happened, over FHIR, on the running services."""

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from tests.support.patients import made_up_nhs_number
from tests.support.running_stack import bearer, eventually
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
# A patient of this module's own: who-viewed lists the patient's first 1,000 accesses, every shared module's among them.
NHS_NUMBER = REFERRAL["patient"]["nhs_number"] = made_up_nhs_number()
PHARMACY = "agency-demo-pharmacy"
FHIR_JSON = "application/fhir+json"
# Rerouting asks who is open when the decline happened, so the test says when that was.
WEDNESDAY_MORNING = "2026-11-18T11:00:00+00:00"


def submit(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def fhir(
    stack: Stack, path: str, client: str | None = "gp-h81001", **params: str
) -> httpx.Response:
    headers = bearer(client) if client else {}
    return httpx.get(
        f"{stack.url('intake')}/v1/fhir/{path}",
        params=params,
        headers=headers,
        timeout=10,
    )


def parsed(
    model: type[Resource], response: httpx.Response, status: int = 200
) -> dict[str, Any]:
    """The answer's JSON, once ``fhir.resources`` has parsed it as ``model``: every answer is the resource it claims."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    data: dict[str, Any] = response.json()
    assert model.model_validate(data).get_resource_type() == data["resourceType"]
    return data


def service_request(
    stack: Stack, referral_id: str, client: str = "gp-h81001"
) -> dict[str, Any]:
    return parsed(ServiceRequest, fhir(stack, f"ServiceRequest/{referral_id}", client))


def outcomes(
    stack: Stack, referral_id: str, client: str = "gp-h81001"
) -> list[dict[str, Any]]:
    bundle = parsed(
        Bundle,
        fhir(stack, "Task", client, **{"based-on": f"ServiceRequest/{referral_id}"}),
    )
    assert bundle["type"] == "searchset"
    found = [e["resource"] for e in bundle.get("entry", [])]
    assert all(Task.model_validate(t) for t in found)
    return found


def business(task: dict[str, Any]) -> str:
    code: str = task["businessStatus"]["coding"][0]["code"]
    return code


def delivered(stack: Stack, referral_id: str, agency: str = "demo-pharmacy") -> str:
    """The referral's assignment to ``agency`` once the notifier holds it (so the agency can report on it)."""

    def ready() -> str | None:
        for task in outcomes(stack, referral_id):
            held = httpx.get(
                f"{stack.url('notifier')}/v1/assignments/{task['id']}",
                headers=bearer("operations"),
                timeout=10,
            )
            if (
                task["owner"]["identifier"]["value"] == agency
                and held.status_code == 200
            ):
                return str(task["id"])
        return None

    found: str = eventually(
        ready, timeout=45, what=f"an assignment to {agency} to be delivered"
    )
    return found


def report(stack: Stack, assignment_id: str, outcome: str, **detail: str) -> None:
    response = httpx.post(
        f"{stack.url('notifier')}/v1/assignments/{assignment_id}/outcomes",
        json={"outcome": outcome, **detail},
        headers=bearer(PHARMACY),
        timeout=10,
    )
    assert response.status_code == 201, response.text


def accesses(stack: Stack, referral_id: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{stack.url('audit')}/v1/audit/who-viewed",
        json={"nhs_number": NHS_NUMBER},
        headers=bearer("operations"),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [a for a in response.json()["accesses"] if a["referral_id"] == referral_id]


@pytest.mark.hazard("HAZ-016")
def test_the_practice_reads_its_referral_move_from_active_to_completed_with_the_outcome_as_a_task(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack)
    submitted = service_request(shared_stack, referral_id)
    assert (
        submitted["id"],
        submitted["status"],
        submitted["subject"]["identifier"]["value"],
    ) == (
        referral_id,
        "active",
        NHS_NUMBER,
    )

    assignment_id = delivered(shared_stack, referral_id)
    report(shared_stack, assignment_id, "accepted")
    accepted = eventually(
        lambda: (
            (t := outcomes(shared_stack, referral_id))
            and t[0]["status"] == "accepted"
            and t
        ),
        what="the acceptance as a Task",
    )
    assert business(accepted[0]) == "accepted"
    assert service_request(shared_stack, referral_id)["status"] == "active", (
        "taken on is still active in BaRS"
    )

    report(
        shared_stack,
        assignment_id,
        "completed",
        completion="advice_given",
        note="Throat swab negative; rest.",
    )
    done = eventually(
        lambda: service_request(shared_stack, referral_id)["status"] == "completed",
        what="the ServiceRequest to complete",
    )
    assert done
    [task] = outcomes(shared_stack, referral_id)
    assert (task["id"], task["status"], business(task)) == (
        assignment_id,
        "completed",
        "patient-seen",
    )
    assert task["basedOn"] == [{"reference": f"ServiceRequest/{referral_id}"}]
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in task["output"]] == [
        "advice_given"
    ]
    assert "Throat swab" not in json.dumps(
        fhir(shared_stack, "Task", **{"based-on": referral_id}).json()
    ), "the agency's note is not the referrer's to read"
    assert parsed(Task, fhir(shared_stack, f"Task/{assignment_id}")) == task, (
        "the search entry's own address reads it"
    )


@pytest.mark.hazard("HAZ-017")
def test_a_declined_part_reads_declined_and_rerouted_and_the_next_service_s_task_follows(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack)
    first = delivered(shared_stack, referral_id)
    report(
        shared_stack,
        first,
        "declined",
        decline_reason="not_available_in_timescale",
        occurred_at=WEDNESDAY_MORNING,
    )
    tasks = eventually(
        lambda: (t := outcomes(shared_stack, referral_id)) and len(t) == 2 and t,
        what="the reroute as a second Task",
    )
    declined, rerouted = tasks
    assert (declined["id"], declined["status"], business(declined)) == (
        first,
        "rejected",
        "declined-rerouted",
    )
    assert "RRNA" in [c["code"] for c in declined["statusReason"]["coding"]]
    assert rerouted["owner"]["identifier"]["value"] != "demo-pharmacy"
    assert rerouted["status"] == "requested"
    assert service_request(shared_stack, referral_id)["status"] == "active"


def test_a_cancelled_referral_reads_revoked_and_its_open_part_cancelled(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack)
    assignment_id = delivered(shared_stack, referral_id)
    cancelled = httpx.post(
        f"{shared_stack.url('intake')}/v1/referrals/{referral_id}/cancel",
        json={"reason": "patient went to A&E"},
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    assert cancelled.status_code == 202, cancelled.text
    revoked = service_request(shared_stack, referral_id)
    assert (revoked["status"], revoked["meta"]["versionId"]) == ("revoked", "2"), (
        "a cancel is a new version, revoked"
    )
    [task] = outcomes(shared_stack, referral_id)
    assert (task["id"], task["status"], business(task)) == (
        assignment_id,
        "cancelled",
        "cancelled",
    )


def test_another_organisation_gets_404_or_nothing_and_every_read_is_in_who_viewed(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack)
    assert service_request(shared_stack, referral_id)["status"] == "active"
    assert (
        service_request(shared_stack, referral_id, client="operations")["status"]
        == "active"
    )

    stranger = parsed(
        OperationOutcome,
        fhir(shared_stack, f"ServiceRequest/{referral_id}", "gp-h81002"),
        404,
    )
    issue = stranger["issue"][0]
    assert (issue["code"], issue["details"]["coding"][0]["code"]) == (
        "not-found",
        "REC_NOT_FOUND",
    )
    never_made = parsed(
        OperationOutcome,
        fhir(shared_stack, f"ServiceRequest/{uuid.uuid4()}", "gp-h81002"),
        404,
    )
    assert never_made["issue"] == stranger["issue"], "existence is not told"
    assert (
        fhir(shared_stack, f"ServiceRequest/{referral_id}", PHARMACY).status_code == 404
    )
    assert outcomes(shared_stack, referral_id, client="gp-h81002") == [], (
        "a search finds nothing it may not see"
    )
    task_id = delivered(shared_stack, referral_id)
    assert fhir(shared_stack, f"Task/{task_id}", "gp-h81002").status_code == 404

    def recorded() -> list[dict[str, Any]] | None:
        seen = accesses(shared_stack, referral_id)
        functions = {(a["client_id"], a["function"], a["outcome"]) for a in seen}
        wanted = {
            ("gp-h81001", "read referral as FHIR ServiceRequest", "granted"),
            ("operations", "read referral as FHIR ServiceRequest", "granted"),
            ("gp-h81001", "search referral outcomes as FHIR Tasks", "granted"),
        }
        return seen if wanted <= functions else None

    assert eventually(recorded, what="the FHIR reads in who-viewed")

    def refused() -> set[tuple[str, str]]:
        response = httpx.post(
            f"{shared_stack.url('audit')}/v1/audit/search",
            json={
                "referral_id": referral_id,
                "event_types": ["access.recorded"],
                "limit": 1000,
            },
            headers=bearer("operations"),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        events = response.json()["events"]
        return {
            (e["payload"]["client_id"], e["payload"]["function"])
            for e in events
            if e["payload"]["outcome"] == "refused"
        }

    wanted = {
        ("gp-h81002", "read referral as FHIR ServiceRequest"),
        ("gp-h81002", "search referral outcomes as FHIR Tasks"),
        ("gp-h81002", "read referral outcome as FHIR Task"),
        (PHARMACY, "read referral as FHIR ServiceRequest"),
    }
    assert eventually(
        lambda: wanted <= refused(),
        what="the refused FHIR reads on the referral's trail",
    )


def test_without_a_token_the_answer_is_a_401_operation_outcome_with_a_bearer_challenge(
    shared_stack: Stack,
) -> None:
    response = fhir(shared_stack, f"ServiceRequest/{uuid.uuid4()}", client=None)
    issue = parsed(OperationOutcome, response, 401)["issue"][0]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (issue["code"], issue["details"]["coding"][0]["code"]) == (
        "security",
        "REC_UNAUTHORIZED",
    )
    assert parsed(
        OperationOutcome,
        fhir(shared_stack, "Task", client=None, **{"based-on": "x"}),
        401,
    )


def test_a_search_without_the_referral_or_by_an_unsupported_parameter_is_refused_with_an_operation_outcome(
    shared_stack: Stack,
) -> None:
    missing = parsed(OperationOutcome, fhir(shared_stack, "Task"), 400)
    assert "based-on" in missing["issue"][0]["diagnostics"]
    unsupported = parsed(
        OperationOutcome, fhir(shared_stack, "Task", owner="Organization/FA001"), 400
    )
    assert unsupported["issue"][0]["code"] == "not-supported"
    assert parsed(
        OperationOutcome,
        fhir(shared_stack, "Task", **{"based-on": "Patient/123"}),
        400,
    )
    assert parsed(OperationOutcome, fhir(shared_stack, "ServiceRequest/not-an-id"), 404)
