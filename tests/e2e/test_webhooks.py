"""Webhook delivery end to end: signed, retried with backoff, given up to the dead letters, paused, never slowing others.

The receiver is a real HTTP server in this process that checks every
signature with the example agency code in ``examples/webhook_receiver.py``.
"""

import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from signpost.stack import Stack
from tests.e2e.test_routing_scenarios import professional_referral
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import bearer, eventually, running

EXAMPLE = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"
REFERRAL = json.loads((Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json").read_text())
SECRET = "a-shared-secret-of-at-least-32-characters"
FAST_RETRY = {"initial_seconds": 0.2, "max_seconds": 0.5, "give_up_after_seconds": 60}


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Receiver:
    """Records what arrives; answers 500 while ``failing`` is above zero; refuses bad signatures with 401."""

    def __init__(self) -> None:
        self.check = _example().signature_problem
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.failing = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problem = receiver.check(SECRET.encode(), self.headers.get("Signpost-Signature", ""), body, time.time())
                with receiver.lock:
                    if problem:
                        receiver.refused.append(problem)
                        status = 401
                    elif receiver.failing > 0:
                        receiver.failing -= 1
                        status = 500
                    else:
                        receiver.accepted.append({**json.loads(body), "_key": self.headers.get("Idempotency-Key")})
                        status = 204
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/signpost"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def got(self, referral_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for a in self.accepted if a.get("referral_id") == referral_id]


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    with running(infrastructure, "e2e_webhooks", extra_env={"SIGNPOST_WEBHOOK_CHECK_INTERVAL_S": "0.1"}) as s:
        yield s


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def register(stack: Stack, agency: str, client: str, url: str, retry: dict[str, float]) -> httpx.Response:
    return httpx.put(f"{stack.url('notifier')}/v1/agencies/{agency}/webhook", json={"url": url, "secret": SECRET, "retry": retry},
                     headers=bearer(client), timeout=10)  # fmt: skip


def submit(stack: Stack, body: dict[str, Any] | None = None, client: str = "gp-h81001") -> str:
    response = httpx.post(f"{stack.url('intake')}/v1/referrals", json=body or REFERRAL, headers=bearer(client), timeout=10)
    referral_id: str = response.json()["referral_id"]
    return referral_id


def delivery_status(stack: Stack, agency: str) -> dict[str, Any]:
    url = f"{stack.url('notifier')}/v1/agencies/{agency}/delivery-status"
    found: dict[str, Any] = httpx.get(url, headers=bearer("operations"), timeout=10).json()
    return found


def test_a_webhook_agency_gets_its_referral_signed_after_retries_once_and_not_on_kafka(stack: Stack, receiver: Receiver) -> None:
    assert register(stack, "demo-pharmacy", "gp-h81001", receiver.url, FAST_RETRY).status_code == 403
    registered = register(stack, "demo-pharmacy", "agency-demo-pharmacy", receiver.url, FAST_RETRY)
    assert registered.status_code == 200, registered.text
    assert "secret" not in registered.text
    receiver.failing = 2
    referral_id = submit(stack)
    got = eventually(lambda: receiver.got(referral_id), what="the referral at the agency's webhook")
    assert len(got) == 1
    assert got[0]["type"] == "agency.referral"
    assert got[0]["_key"] == got[0]["event_id"], "the copy's event id is the receiver's idempotency key"
    assert receiver.refused == [], "every request carried a valid, fresh signature"

    def view() -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(
            f"{stack.url('intake')}/v1/referrals/{referral_id}", headers=bearer(), timeout=10
        ).json()
        return found

    assert eventually(
        lambda: view()["assignments"][0]["status"] == "offered", what="assignment.delivered once the agency said 2xx"
    )
    assert view()["assignments"][0]["agency_id"] == "demo-pharmacy"
    assert delivery_status(stack, "demo-pharmacy")["deliveries"].get("delivered", 0) >= 1


def test_a_paused_agency_is_sent_nothing_until_resumed(stack: Stack, receiver: Receiver) -> None:
    url = f"{stack.url('notifier')}/v1/agencies/demo-pharmacy"
    assert httpx.post(f"{url}/pause", headers=bearer("agency-demo-pharmacy"), timeout=10).status_code == 403
    paused = httpx.post(f"{url}/pause", headers=bearer("operations"), timeout=10).json()
    assert paused == {"agency_id": "demo-pharmacy", "paused": True}
    referral_id = submit(stack)
    reason = "deliveries to this agency are paused by operations"
    held = eventually(lambda: delivery_status(stack, "demo-pharmacy")["last_error"] == reason, what="the sender to hold it back")
    assert held
    assert receiver.got(referral_id) == []
    httpx.post(f"{url}/resume", headers=bearer("operations"), timeout=10)
    assert eventually(lambda: receiver.got(referral_id), what="the delivery once resumed")


def test_a_failing_agency_is_given_up_to_the_dead_letters_and_never_slows_another(stack: Stack, receiver: Receiver) -> None:
    with socket.socket() as s:  # a port nobody listens on: every attempt is refused at once
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/gone"
    retry = {"initial_seconds": 0.2, "max_seconds": 0.4, "give_up_after_seconds": 4}
    assert (
        register(stack, "social-services-croydon-north", "agency-social-services-croydon-north", dead_url, retry).status_code
        == 200
    )
    failing = submit(stack, professional_referral(["home_heating"]), client="icn-pharmacist-rj6")
    healthy = submit(stack)
    assert eventually(lambda: receiver.got(healthy), what="the healthy agency's delivery")
    still_trying = delivery_status(stack, "social-services-croydon-north")
    assert still_trying["deliveries"].get("pending") == 1, "the healthy agency was served while the other was still failing"
    assert eventually(lambda: delivery_status(stack, "social-services-croydon-north")["last_error"] in
                      ("circuit open after repeated failures", "ConnectError"), what="repeated failures")  # fmt: skip
    letters = eventually(
        lambda: [d for d in httpx.get(f"{stack.url('notifier')}/v1/dead-letters", params={"referral_id": failing},
                                      headers=bearer("operations"), timeout=10).json()["items"]
                 if d["consumer"] == "signpost-notifier-webhook"],
        timeout=60, what="the given-up delivery among the dead letters",
    )  # fmt: skip
    assert letters[0]["original_topic"] == "agency.social-services-croydon-north.referrals"
    assert letters[0]["reason"].startswith("webhook gave up after")
    assert delivery_status(stack, "social-services-croydon-north")["deliveries"] == {"dead_lettered": 1}


def test_webhook_changes_and_pauses_are_on_the_audit_trail(stack: Stack) -> None:
    search = httpx.post(f"{stack.url('audit')}/v1/audit/search", json={"event_types": ["access.recorded"], "limit": 500},
                        headers=bearer("operations"), timeout=10)  # fmt: skip
    functions = {e["payload"].get("function") for e in search.json()["events"]}
    assert {"register webhook", "pause deliveries", "resume deliveries"} <= functions
