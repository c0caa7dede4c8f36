"""A GP system that does not consume Kafka hears every outcome by signed webhook, verified with the published library.

The receiver is a real HTTP server in this process that checks every request
as a Standard Webhooks receiver does, with the ``standardwebhooks`` package
from PyPI; the agency's referral and the practice's feedback are both signed
that way (and with the deprecated ``Signpost-Signature`` beside, for now).
Another organisation's token can neither set, pause, read nor remove a
referrer's webhook.
"""

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifier.domain.webhooks.signing import SIGNATURE_HEADER
from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import read_all
from tests.support.running_stack import bearer, eventually, running
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
PRACTICE, GP, OTHER_GP, PHARMACY = (
    "H81002",
    "gp-h81002",
    "gp-h81001",
    "agency-demo-pharmacy",
)
# As a Standard Webhooks library makes one: whsec_ and the base64 of a random key.
GP_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
PHARMACY_SECRET = "a-shared-secret-of-at-least-32-characters"  # an older plain secret: its whsec_ form is derived
FAST = {"initial_seconds": 0.3, "max_seconds": 5, "give_up_after_seconds": 120}


@dataclass(frozen=True)
class Arrival:
    path: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


class Receiver:
    """``/gp`` and ``/pharmacy``, each verified with its own secret; 500 while ``failing[path]`` is above zero."""

    def __init__(self) -> None:
        self.secrets = {
            "/gp": GP_SECRET,
            "/pharmacy": "whsec_" + base64.b64encode(PHARMACY_SECRET.encode()).decode(),
        }
        self.arrivals: list[Arrival] = []
        self.failing: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(
                    receiver.answer(self.path, dict(self.headers.items()), body)
                )
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        try:
            Webhook(self.secrets[path]).verify(body, headers)
            status = 204
        except (WebhookVerificationError, KeyError):
            status = 401
        with self.lock:
            if status == 204 and self.failing.get(path, 0) > 0:
                self.failing[path] -= 1
                status = 500
            self.arrivals.append(
                Arrival(path, status, {k.lower(): v for k, v in headers.items()}, body)
            )
        return status

    def seen(self, path: str, referral_id: str) -> list[Arrival]:
        with self.lock:
            return [
                a
                for a in self.arrivals
                if a.path == path and a.event.get("referral_id") == referral_id
            ]


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    with running(
        infrastructure,
        "e2e_referrer_webhooks",
        extra_env={"SIGNPOST_WEBHOOK_CHECK_INTERVAL_S": "0.1"},
    ) as s:
        yield s


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _hook(
    stack: Stack,
    ods: str,
    action: str = "webhook",
    method: str = "GET",
    client: str = GP,
    **body: Any,
) -> httpx.Response:
    return httpx.request(
        method,
        f"{stack.url('notifier')}/v1/referrers/{ods}/{action}",
        json=body or None,
        headers=bearer(client),
        timeout=10,
    )


def test_another_organisations_token_cannot_set_pause_read_or_remove_a_referrers_webhook(
    stack: Stack, receiver: Receiver
) -> None:
    wanted = {"url": f"{receiver.base}/attacker", "secret": GP_SECRET}
    for attacker in (
        OTHER_GP,
        PHARMACY,
    ):  # another practice, and an agency: each with its own valid token
        tries = [
            _hook(stack, PRACTICE, method="PUT", client=attacker, **wanted),
            _hook(stack, PRACTICE, "pause", "POST", client=attacker),
            _hook(stack, PRACTICE, "delivery-status", client=attacker),
            _hook(stack, PRACTICE, method="DELETE", client=attacker),
        ]
        assert [r.status_code for r in tries] == [403, 403, 403, 403], [
            r.text for r in tries
        ]
        assert all(
            r.headers["content-type"].startswith("application/problem+json")
            for r in tries
        )
    status = _hook(stack, PRACTICE, "delivery-status").json()
    assert (status["channel"], status["paused"], status["url"]) == (
        "kafka",
        False,
        None,
    ), "nothing changed"


def test_a_bad_whsec_secret_is_refused_naming_the_problem(
    stack: Stack, receiver: Receiver
) -> None:
    refused = _hook(
        stack,
        PRACTICE,
        method="PUT",
        url=f"{receiver.base}/gp",
        secret="whsec_" + "*" * 40,
    )
    assert refused.status_code == 422
    assert "whsec_ followed by standard base64" in refused.text
    assert _hook(stack, PRACTICE, "delivery-status").json()["channel"] == "kafka"


@pytest.mark.hazard("HAZ-016")
def test_a_gp_system_hears_the_outcome_by_standard_webhook_retried_under_one_id(
    stack: Stack, receiver: Receiver
) -> None:
    registered = _hook(
        stack,
        PRACTICE,
        method="PUT",
        url=f"{receiver.base}/gp",
        secret=GP_SECRET,
        retry=FAST,
    )
    assert registered.status_code == 200, registered.text
    assert GP_SECRET not in registered.text
    agency = httpx.put(
        f"{stack.url('notifier')}/v1/agencies/demo-pharmacy/webhook",
        headers=bearer(PHARMACY),
        timeout=10,
        json={
            "url": f"{receiver.base}/pharmacy",
            "secret": PHARMACY_SECRET,
            "retry": FAST,
        },
    )
    assert agency.status_code == 200, agency.text
    receiver.failing["/gp"] = 2

    body = json.loads(json.dumps(REFERRAL))
    body["referrer"]["ods_code"] = PRACTICE
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals", json=body, headers=bearer(GP), timeout=10
    )
    assert response.status_code == 202, response.text
    referral_id = response.json()["referral_id"]

    # The agency's copy: verified by the library with the Standard Webhooks form of its older plain secret.
    copy = eventually(
        lambda: receiver.seen("/pharmacy", referral_id),
        timeout=60,
        what="the referral at the pharmacy",
    )
    assert [a.status for a in copy] == [204]
    assert SIGNATURE_HEADER.lower() in copy[0].headers, (
        "the deprecated header still travels beside"
    )
    assignment_id = copy[0].event["assignment"]["assignment_id"]
    reported = httpx.post(
        f"{stack.url('notifier')}/v1/assignments/{assignment_id}/outcomes",
        json={"outcome": "accepted"},
        headers=bearer(PHARMACY),
        timeout=10,
    )
    assert reported.status_code == 201, reported.text

    def heard() -> list[Arrival]:
        found = receiver.seen("/gp", referral_id)
        return found if any(a.status == 204 for a in found) else []

    tries = eventually(
        heard, timeout=60, what="the practice's webhook to take the feedback"
    )
    assert [a.status for a in tries] == [500, 500, 204], (
        "every try passed the library's check; two were answered 500"
    )
    feedback = tries[-1].event
    assert (feedback["type"], feedback["practice_ods"], feedback["status"]) == (
        "practice.feedback",
        PRACTICE,
        "accepted",
    )
    assert {a.headers["webhook-id"] for a in tries} == {feedback["event_id"]}, (
        "one id across retries: receivers dedupe"
    )
    on_topic = [
        r
        for r in asyncio.run(
            read_all(stack.kafka_bootstrap, f"practice.{PRACTICE}.feedback")
        )
        if r.get("referral_id") == referral_id
    ]
    assert [r["event_id"] for r in on_topic] == [feedback["event_id"]], (
        "the same event, once, on the practice's topic"
    )
    assert eventually(
        lambda: (
            _hook(stack, PRACTICE, "delivery-status").json()["deliveries"]
            == {"delivered": 1}
        )
    )

    # Every later step is heard the same way, each under its own id.
    for outcome in (
        {"outcome": "patient_contacted"},
        {"outcome": "completed", "completion": "advice_given"},
    ):
        reported = httpx.post(
            f"{stack.url('notifier')}/v1/assignments/{assignment_id}/outcomes",
            json=outcome,
            headers=bearer(PHARMACY),
            timeout=10,
        )
        assert reported.status_code == 201, reported.text

    def taken() -> list[dict[str, Any]]:
        events = [a.event for a in receiver.seen("/gp", referral_id) if a.status == 204]
        return events if len(events) == 3 else []

    events = eventually(
        taken,
        timeout=60,
        what="the contact and the completion at the practice's webhook",
    )
    assert [e["status"] for e in events] == [
        "accepted",
        "patient_contacted",
        "completed",
    ]
    assert events[-1]["summary"]["completion"] == "advice_given"
    assert len({e["event_id"] for e in events}) == 3


def test_the_practice_pauses_and_resumes_its_own_feedback_webhook(stack: Stack) -> None:
    paused = _hook(stack, PRACTICE, "pause", "POST")
    assert paused.status_code == 200, paused.text
    assert _hook(stack, PRACTICE, "delivery-status").json()["paused"] is True
    assert _hook(stack, PRACTICE, "resume", "POST").status_code == 200
    assert _hook(stack, PRACTICE, "delivery-status").json()["paused"] is False
    removed = _hook(stack, PRACTICE, method="DELETE")
    assert removed.status_code == 200, removed.text
    assert _hook(stack, PRACTICE, "delivery-status").json()["channel"] == "kafka"
