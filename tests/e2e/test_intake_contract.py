"""Intake's contract on the running services: FHIR/BaRS, cancel, and a table of bad input that changes nothing."""

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.running_stack import audit_trail, bearer, eventually
from tests.unit.schemas.factories import mutated
from tests.unit.schemas.test_referral_rules import REFUSED
from toolbox.stack import Stack

DATA = Path(__file__).parents[1] / "support" / "data"
REFERRAL = json.loads((DATA / "pharmacy_first_referral.json").read_text())
BUNDLE = json.loads((DATA / "bars_servicerequest_bundle.json").read_text())
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def post_fhir(stack: Stack, bundle: object, **headers: str) -> httpx.Response:
    body = bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode()
    return httpx.post(
        f"{stack.url('intake')}/v1/fhir/$process-message",
        content=body,
        headers={**bearer(), **FHIR_JSON, **headers},
        timeout=10,
    )


def post_json(stack: Stack, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        content=body,
        headers={**bearer(), "Content-Type": "application/json", **headers},
        timeout=10,
    )


def referral_id_of(outcome: dict[str, Any]) -> str:
    diagnostics: str = outcome["issue"][0]["diagnostics"]
    return diagnostics.removeprefix("referral_id=")


def test_a_bars_bundle_is_accepted_and_flows_like_a_json_referral(
    shared_stack: Stack,
) -> None:
    response = post_fhir(shared_stack, BUNDLE)
    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "information"
    referral_id = referral_id_of(outcome)
    eventually(
        lambda: (
            {"referral.submitted", "referral.routed", "assignment.delivered"}
            <= {e["event_type"] for e in audit_trail(shared_stack, referral_id)}
        ),
        what="the FHIR referral to be routed and delivered",
    )
    stored = httpx.get(
        f"{shared_stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer(),
        timeout=10,
    ).json()
    assert stored["versions"][0]["source"] == "fhir"
    assert (
        stored["versions"][0]["referral"]["patient"]["nhs_number"]
        == REFERRAL["patient"]["nhs_number"]
    )


@pytest.mark.hazard("HAZ-002")
def test_a_replayed_fhir_request_id_answers_the_same_and_a_changed_body_conflicts(
    shared_stack: Stack,
) -> None:
    request_id = (
        f"fhir-replay-{uuid.uuid4()}"  # the stack is shared: an id of this test's own
    )
    first = post_fhir(shared_stack, BUNDLE, **{"X-Request-Id": request_id})
    again = post_fhir(shared_stack, BUNDLE, **{"X-Request-Id": request_id})
    assert (first.status_code, again.status_code) == (202, 202)
    assert referral_id_of(first.json()) == referral_id_of(again.json())
    changed = copy.deepcopy(BUNDLE)
    for entry in changed["entry"]:
        if entry["resource"]["resourceType"] == "ServiceRequest":
            entry["resource"]["priority"] = "urgent"
    conflict = post_fhir(shared_stack, changed, **{"X-Request-Id": request_id})
    assert conflict.status_code == 409
    assert conflict.json()["issue"][0]["code"] == "conflict"


@pytest.mark.hazard("HAZ-011")
def test_cancel_revokes_once_and_keeps_every_version(shared_stack: Stack) -> None:
    intake = shared_stack.url("intake")
    referral_id = httpx.post(
        f"{intake}/v1/referrals", json=REFERRAL, headers=bearer(), timeout=10
    ).json()["referral_id"]
    other_practice = httpx.post(
        f"{intake}/v1/referrals/{referral_id}/cancel",
        json={"reason": "x"},
        headers=bearer("gp-h81002"),
        timeout=10,
    )
    assert other_practice.status_code == 404
    cancelled = httpx.post(
        f"{intake}/v1/referrals/{referral_id}/cancel",
        json={"reason": "patient recovered"},
        headers=bearer(),
        timeout=10,
    )
    assert cancelled.status_code == 202, cancelled.text
    again = httpx.post(
        f"{intake}/v1/referrals/{referral_id}/cancel",
        json={"reason": "again"},
        headers=bearer(),
        timeout=10,
    )
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    stored = httpx.get(
        f"{intake}/v1/referrals/{referral_id}", headers=bearer(), timeout=10
    ).json()
    assert stored["status"] == "cancelled"
    assert [(v["version"], v["status"]) for v in stored["versions"]] == [
        (1, "submitted"),
        (2, "cancelled"),
    ]
    eventually(
        lambda: (
            "referral.cancelled"
            in [e["event_type"] for e in audit_trail(shared_stack, referral_id)]
        ),
        what="the cancellation to reach the audit trail",
    )


def _bundle_without(resource_type: str) -> dict[str, Any]:
    bundle: dict[str, Any] = copy.deepcopy(BUNDLE)
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] != resource_type
    ]
    return bundle


def _bundle_with(**changes: Any) -> dict[str, Any]:
    bundle: dict[str, Any] = copy.deepcopy(BUNDLE)
    bundle.update(changes)
    return bundle


# Rules that depend on today's date (ages, birth dates) are left to the unit table, which fixes the date.
JSON_RULES = [
    (name, changes, message)
    for name, changes, _loc, message in REFUSED
    if "Pharmacy First:" not in message and "patient.birth_date" not in changes
]
HOSTILE: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("invalid JSON", b'{"referrer": ', {}, 422, "JSON decode error"),
    ("a JSON array", b"[]", {}, 422, "valid dictionary"),
    ("an empty body", b"", {}, 422, "Field required"),
    (
        "SQL injection in the ODS code",
        json.dumps(mutated({"referrer.ods_code": "H81001' OR '1'='1"})).encode(),
        {},
        422,
        "pattern",
    ),
    (
        "script in the pharmacy code",
        json.dumps(mutated({"chosen_pharmacy_ods": "<script>"})).encode(),
        {},
        422,
        "pattern",
    ),
    (
        "a number for the NHS number",
        json.dumps(mutated({"patient.nhs_number": 9434765919})).encode(),
        {},
        422,
        "string",
    ),
    (
        "a string for consent",
        json.dumps(mutated({"consent_direct_care": "yes"})).encode(),
        {},
        422,
        "valid boolean",
    ),
    (
        "an unknown need",
        json.dumps(mutated({"needs": ["teleportation"]})).encode(),
        {},
        422,
        "needs.0",
    ),
    ("an oversized body", b'{"notes": "' + b"x" * 300_000 + b'"}', {}, 413, "at most"),
    (
        "another organisation's referral",
        json.dumps(mutated({"referrer.ods_code": "H81002"})).encode(),
        {},
        403,
        "own organisation",
    ),
]
FHIR_CASES: list[tuple[str, object, int, str]] = [
    ("a collection, not a message", _bundle_with(type="collection"), 400, "message"),
    ("no ServiceRequest", _bundle_without("ServiceRequest"), 400, "does not resolve"),
    ("no MessageHeader", _bundle_without("MessageHeader"), 400, "MessageHeader"),
    ("no Patient", _bundle_without("Patient"), 400, "does not resolve"),
    ("a Patient, not a Bundle", {"resourceType": "Patient"}, 400, "Bundle"),
    ("not JSON", b"<Bundle/>", 400, "JSON"),
]


async def _footprint(database_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        referrals = await conn.fetchval("SELECT count(*) FROM intake.referrals")
        events = await conn.fetchval("SELECT coalesce(max(id), 0) FROM intake.outbox")
        return int(referrals), int(events)
    finally:
        await conn.close()


@pytest.fixture
def nothing_changes(shared_stack: Stack) -> Any:
    """Each bad submission must leave no referral row and no outbox event behind."""
    before = asyncio.run(_footprint(shared_stack.database_url))
    yield
    assert asyncio.run(_footprint(shared_stack.database_url)) == before


def test_the_bad_input_table_has_at_least_forty_cases() -> None:
    assert len(JSON_RULES) + len(HOSTILE) + len(FHIR_CASES) >= 40


@pytest.mark.hazard("HAZ-006")
@pytest.mark.parametrize(
    ("changes", "message"), [c[1:] for c in JSON_RULES], ids=[c[0] for c in JSON_RULES]
)
def test_a_referral_breaking_a_rule_is_refused_with_that_rule(
    shared_stack: Stack, nothing_changes: None, changes: dict[str, Any], message: str
) -> None:
    response = post_json(shared_stack, json.dumps(mutated(changes)).encode())
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(message in e["message"] for e in problem["errors"]), problem


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [c[1:] for c in HOSTILE],
    ids=[c[0] for c in HOSTILE],
)
def test_hostile_input_is_refused_specifically(
    shared_stack: Stack,
    nothing_changes: None,
    body: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    response = post_json(shared_stack, body, **headers)
    assert response.status_code == status, response.text
    assert message in response.text


@pytest.mark.parametrize(
    ("bundle", "status", "message"),
    [c[1:] for c in FHIR_CASES],
    ids=[c[0] for c in FHIR_CASES],
)
def test_a_bad_bundle_gets_an_operation_outcome(
    shared_stack: Stack,
    nothing_changes: None,
    bundle: object,
    status: int,
    message: str,
) -> None:
    response = post_fhir(shared_stack, bundle)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(
        message in (issue.get("diagnostics") or "") for issue in outcome["issue"]
    ), outcome


def test_the_demo_submits_a_json_and_a_fhir_referral_and_follows_both(
    shared_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolbox.demo import report_audit, submit_and_show

    assert submit_and_show(shared_stack.url("intake"), shared_stack.url("audit"))
    printed = capsys.readouterr().out
    assert "POST /v1/referrals -> 202" in printed
    assert (
        "POST /v1/fhir/$process-message (BaRS servicerequest-request) -> 202" in printed
    )
    assert printed.count("trail complete: submitted -> routed -> delivered") == 2
    assert report_audit(shared_stack.url("audit"), shared_stack.database_url)
    printed = capsys.readouterr().out
    assert f"operations page: {shared_stack.url('audit')}/ops" in printed
    assert "signpost audit verify: chains intact" in printed


@pytest.mark.hazard("HAZ-011")
def test_a_completed_referral_cannot_be_cancelled(shared_stack: Stack) -> None:
    from toolbox.demo_feedback import worked_to_completion

    # The demo pharmacy accepts, contacts and completes it through the notifier, as in `make demo`.
    intake = shared_stack.url("intake")
    referral_id = worked_to_completion(
        intake, shared_stack.url("notifier"), shared_stack.kafka_bootstrap
    )
    assert referral_id is not None
    eventually(
        lambda: (
            httpx.get(
                f"{intake}/v1/referrals/{referral_id}", headers=bearer(), timeout=10
            ).json()["status"]
            == "completed"
        ),
        what="intake to learn the referral is completed",
    )
    refused = httpx.post(
        f"{intake}/v1/referrals/{referral_id}/cancel",
        json={"reason": "late"},
        headers=bearer(),
        timeout=10,
    )
    assert refused.status_code == 409
    assert (
        refused.json()["detail"]
        == "the referral is completed; it can no longer be cancelled"
    )
    stored = httpx.get(
        f"{intake}/v1/referrals/{referral_id}", headers=bearer(), timeout=10
    ).json()
    assert [v["status"] for v in stored["versions"]] == ["submitted"]
