"""While PostgreSQL is away, intake answers 503 with Retry-After (OperationOutcome on FHIR), never a 500.

Before this, a PostgreSQL restart under load answered some submissions with
500: the client could not tell a fault it can wait out from a broken request.
The test stops the real test PostgreSQL under a running intake, submits on both
endpoints, starts PostgreSQL again and sends the same requests once more.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.postgres import local as postgres_local
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import bearer, eventually, running
from toolbox.stack import Stack

DATA = Path(__file__).parents[1] / "support" / "data"
REFERRAL = (DATA / "pharmacy_first_referral.json").read_bytes()
BUNDLE = (DATA / "bars_servicerequest_bundle.json").read_bytes()


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    if infrastructure.postgres_node is None:
        pytest.skip("needs the project's own PostgreSQL process to stop and start")
    with running(infrastructure, "e2e_dependency_away") as stack:
        yield stack


def submit(
    stack: Stack, path: str, body: bytes, content_type: str, request_id: str
) -> httpx.Response:
    headers = {**bearer(), "Content-Type": content_type, "X-Request-Id": request_id}
    return httpx.post(
        f"{stack.url('intake')}{path}", content=body, headers=headers, timeout=30
    )


def ready(stack: Stack) -> bool:
    try:
        return httpx.get(f"{stack.url('intake')}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.hazard("HAZ-001")
def test_submissions_while_postgres_is_down_get_503_with_retry_after_and_go_through_once_it_is_back(
    stack: Stack, infrastructure: Infrastructure
) -> None:
    node = infrastructure.postgres_node
    assert node is not None
    postgres_local.stop(node)
    try:
        plain = submit(
            stack, "/v1/referrals", REFERRAL, "application/json", "away-json-1"
        )
        fhir = submit(
            stack,
            "/v1/fhir/$process-message",
            BUNDLE,
            "application/fhir+json",
            "away-fhir-1",
        )
    finally:
        postgres_local.start(node)

    assert plain.status_code == 503, plain.text
    assert plain.headers["Retry-After"] == "5"
    assert plain.headers["content-type"].startswith("application/problem+json")
    assert plain.json()["status"] == 503
    assert "same X-Request-Id" in plain.json()["detail"]

    assert fhir.status_code == 503, fhir.text
    assert fhir.headers["Retry-After"] == "5"
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    outcome = fhir.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["code"] == "transient"
    assert issue["details"]["coding"][0]["code"] == "REC_SERVICE_UNAVAILABLE"

    eventually(
        lambda: ready(stack),
        timeout=60,
        what="intake ready again once PostgreSQL is back",
    )
    again = submit(stack, "/v1/referrals", REFERRAL, "application/json", "away-json-1")
    assert again.status_code == 202, again.text
    again_fhir = submit(
        stack,
        "/v1/fhir/$process-message",
        BUNDLE,
        "application/fhir+json",
        "away-fhir-1",
    )
    assert again_fhir.status_code == 202, again_fhir.text
    assert json.loads(again_fhir.text)["resourceType"] == "OperationOutcome"
