"""The agency examples keep working against what Signpost publishes and signs.

The examples may not import Signpost, so these tests hold them to it from the
outside: the published JSON Schemas accept a real agency referral, and the
copied signature check agrees with the notifier's signer.
"""

import importlib.util
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from schemas.events import AgencyOutcome, AgencyReferral, Assignment
from schemas.minimise import agency_case
from schemas.referral import Referral
from services.notifier.domain.webhooks.signing import sign

ROOT = Path(__file__).resolve().parents[3]
BASELINE = ROOT / "tests" / "support" / "data" / "pharmacy_first_referral.json"
SECRET = b"whsec-demo-pharmacy"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


consumer = load("agency_consumer")
receiver = load("webhook_receiver")


def agency_referral() -> dict[str, Any]:
    """A referral as the notifier would put it on an agency topic, built with Signpost's own models."""
    assignment = {
        "assignment_id": str(uuid.uuid4()),
        "service_id": "demo-pharmacy",
        "service_type": "community_pharmacy",
        "agency_id": "demo-pharmacy",
        "rule_id": "pharmacy-first.chosen",
        "reason": "the patient chose this pharmacy",
    }
    case = agency_case(
        Referral.model_validate_json(BASELINE.read_text()),
        Assignment.model_validate(assignment),
    )
    event = AgencyReferral.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC),
            "correlation_id": "corr-1",
            "journey_id": str(uuid.uuid4()),
            "producer": "notifier",
            "patient_key": "k" * 32,
            "referral_id": str(uuid.uuid4()),
            "assignment": assignment,
            "referral": case,
        }
    )
    dumped: dict[str, Any] = json.loads(event.model_dump_json())
    return dumped


def test_the_published_schema_accepts_what_the_notifier_sends() -> None:
    assert consumer.problems(agency_referral(), "agency.referral") == []


def test_the_published_schema_names_what_is_wrong_with_a_broken_message() -> None:
    message = agency_referral()
    del message["assignment"]
    message["referral_id"] = "not-a-uuid"
    problems = consumer.problems(message, "agency.referral")
    assert any("assignment" in p for p in problems)
    assert any(p.startswith("referral_id:") for p in problems)


def test_an_unknown_schema_version_is_a_problem_not_a_crash() -> None:
    assert consumer.problems(
        {**agency_referral(), "version": 99}, "agency.referral"
    ) == [
        "no published schema agency.referral.v99.json; is this consumer older than the message?"
    ]


def test_the_accepted_outcome_is_one_signpost_accepts_and_repeats_under_the_same_id() -> (
    None
):
    referral = agency_referral()
    outcome = consumer.accepted_outcome(referral)
    AgencyOutcome.model_validate(outcome)
    assert outcome["assignment_id"] == referral["assignment"]["assignment_id"]
    assert consumer.accepted_outcome(referral)["event_id"] == outcome["event_id"]


async def test_the_consumer_posts_accepted_with_its_token_and_an_idempotent_request_id() -> (
    None
):
    seen: list[httpx.Request] = []

    def notifier(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    referral = agency_referral()
    transport = httpx.MockTransport(notifier)
    auth = {"Authorization": "Bearer t0k"}
    async with httpx.AsyncClient(
        base_url="http://notifier", headers=auth, transport=transport
    ) as http:
        await consumer.handle(http, json.dumps(referral).encode())
        await consumer.handle(http, b"not json")
    [request] = seen
    body = json.loads(request.content)
    assert (
        request.url.path
        == f"/v1/assignments/{referral['assignment']['assignment_id']}/outcomes"
    )
    assert request.headers["Authorization"] == "Bearer t0k"
    assert request.headers["X-Request-Id"] == body["event_id"]
    assert request.headers["X-Correlation-Id"] == "corr-1"
    assert body["outcome"] == "accepted"


def test_the_copied_signature_check_agrees_with_the_notifiers_signer() -> None:
    body = json.dumps(agency_referral()).encode()
    now = datetime.now(UTC)
    header = sign(SECRET, body, now)
    assert receiver.signature_problem(SECRET, header, body, now.timestamp()) is None
    assert (
        receiver.signature_problem(SECRET, header, body + b" ", now.timestamp())
        == "signature does not match"
    )
    assert (
        receiver.signature_problem(b"wrong", header, body, now.timestamp())
        == "signature does not match"
    )
    stale = (now + timedelta(minutes=6)).timestamp()
    assert (
        receiver.signature_problem(SECRET, header, body, stale)
        == "signature timestamp too old or in the future (replay?)"
    )
    assert (
        receiver.signature_problem(SECRET, "nonsense", body, now.timestamp())
        == "malformed Signpost-Signature header"
    )


@pytest.fixture
def webhook_url() -> Iterator[str]:
    receiver.Receiver.secret = SECRET
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_receiver_takes_a_signed_delivery_once_and_refuses_an_unsigned_one(
    webhook_url: str,
) -> None:
    body = json.dumps(agency_referral()).encode()
    signed = {
        "Signpost-Signature": sign(SECRET, body, datetime.now(UTC)),
        "Content-Type": "application/json",
    }
    assert httpx.post(webhook_url, content=body, headers=signed).status_code == 202
    assert httpx.post(webhook_url, content=body, headers=signed).status_code == 200
    refused = httpx.post(
        webhook_url, content=body, headers={"Signpost-Signature": "t=1,v1=00"}
    )
    assert (refused.status_code, refused.json()["detail"]) == (
        401,
        "signature does not match",
    )
