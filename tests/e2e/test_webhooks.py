"""Webhook delivery end to end: signed, retried with backoff, given up to the dead letters, paused, never slowing others.

The receiver is a real HTTP server in this process that checks every
signature with the example agency code in ``examples/webhook_receiver.py``.
Each test uses agencies of its own, since webhooks, pauses and breakers
outlive a test.
"""

import asyncio
import base64
import importlib.util
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifier.loops.webhooks import TIMEOUT
from tests.e2e.test_routing_scenarios import professional_referral
from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import read_all
from tests.support.running_stack import bearer, eventually, running
from toolbox.stack import Stack

EXAMPLE = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"
REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
SECRET = "a-shared-secret-of-at-least-32-characters"
FAST = {"initial_seconds": 0.3, "max_seconds": 5, "give_up_after_seconds": 120}


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Attempt:
    path: str
    at: float  # time.monotonic() on arrival
    status: int | None  # None: still hanging
    signature: str
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


class Receiver:
    """Agency endpoints at ``/ok/<agency>`` (500 while ``failing[path]`` is above zero) and ``/hang`` (no answer).

    Every request is checked with the example agency's signature code, at the
    receiver's clock plus ``skew``; a bad signature is refused with 401.
    """

    def __init__(self) -> None:
        self.check = _example().signature_problem
        self.attempts: list[Attempt] = []
        self.failing: dict[str, int] = {}
        self.skew = 0.0
        self.released = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signature = self.headers.get("Signpost-Signature", "")
                path = self.path.partition("?")[0]
                self.send_response(
                    receiver.answer(
                        path, signature, body, self.headers.get("Idempotency-Key")
                    )
                )
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, signature: str, body: bytes, key: str | None) -> int:
        arrived = time.monotonic()
        if path == "/hang":
            with self.lock:
                self.attempts.append(Attempt(path, arrived, None, signature, body))
            self.released.wait(60)
            return 503
        problem = self.check(SECRET.encode(), signature, body, time.time() + self.skew)
        if not problem and key != json.loads(body)["event_id"]:
            problem = "idempotency key is not the event id"
        with self.lock:
            if problem:
                status = 401
            elif self.failing.get(path, 0) > 0:
                self.failing[path] -= 1
                status = 500
            else:
                status = 204
            self.attempts.append(Attempt(path, arrived, status, signature, body))
        return status

    def seen(
        self, path: str, referral_id: str | None = None, status: int | None = 204
    ) -> list[Attempt]:
        with self.lock:
            return [
                a
                for a in self.attempts
                if a.path == path
                and (referral_id is None or a.event["referral_id"] == referral_id)
                and (status == -1 or a.status == status)
            ]

    def refused(self) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if a.status == 401]


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    with running(
        infrastructure,
        "e2e_webhooks",
        extra_env={"SIGNPOST_WEBHOOK_CHECK_INTERVAL_S": "0.1"},
    ) as s:
        yield s


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.released.set()
    r.server.shutdown()


@pytest.fixture(scope="module")
def pharmacy(stack: Stack, receiver: Receiver) -> str:
    """demo-pharmacy takes its referrals by webhook, healthy unless a test says otherwise."""
    assert (
        register(
            stack,
            "demo-pharmacy",
            f"{receiver.base}/ok/demo-pharmacy",
            client="agency-demo-pharmacy",
        ).status_code
        == 200
    )
    return "/ok/demo-pharmacy"


def register(
    stack: Stack,
    agency: str,
    url: str,
    retry: dict[str, float] = FAST,
    client: str = "operations",
) -> httpx.Response:
    return httpx.put(
        f"{stack.url('notifier')}/v1/agencies/{agency}/webhook",
        json={"url": url, "secret": SECRET, "retry": retry},
        headers=bearer(client),
        timeout=10,
    )


def control(
    stack: Stack, agency: str, action: str, client: str = "operations", **body: Any
) -> httpx.Response:
    url = f"{stack.url('notifier')}/v1/agencies/{agency}/{action}"
    return httpx.post(url, json=body or None, headers=bearer(client), timeout=10)


def submit(
    stack: Stack, body: dict[str, Any] | None = None, client: str = "gp-h81001"
) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body or REFERRAL,
        headers=bearer(client),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def needing(need: str) -> tuple[dict[str, Any], str]:
    return professional_referral([need]), "icn-pharmacist-rj6"


def delivery_status(stack: Stack, agency: str) -> dict[str, Any]:
    url = f"{stack.url('notifier')}/v1/agencies/{agency}/delivery-status"
    response = httpx.get(url, headers=bearer("operations"), timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def assignments(
    stack: Stack, referral_id: str, client: str = "gp-h81001"
) -> list[dict[str, Any]]:
    view = httpx.get(
        f"{stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer(client),
        timeout=10,
    ).json()
    found: list[dict[str, Any]] = view["assignments"]
    return found


def on_topic(stack: Stack, topic: str) -> list[dict[str, Any]]:
    return asyncio.run(read_all(stack.kafka_bootstrap, topic))


def test_a_webhook_agency_gets_its_referral_signed_once_after_retries_and_not_on_kafka(
    stack: Stack, receiver: Receiver, pharmacy: str
) -> None:
    assert (
        register(
            stack, "demo-pharmacy", f"{receiver.base}{pharmacy}", client="gp-h81001"
        ).status_code
        == 403
    )
    registered = register(
        stack,
        "demo-pharmacy",
        f"{receiver.base}{pharmacy}?token=abc",
        client="agency-demo-pharmacy",
    )
    assert registered.status_code == 200, registered.text
    assert SECRET not in registered.text
    assert registered.json()["url"] == f"{receiver.base}{pharmacy}", (
        "the URL is shown without its query"
    )
    receiver.failing[pharmacy] = 4
    referral_id = submit(stack)

    got = eventually(
        lambda: receiver.seen(pharmacy, referral_id),
        what="the referral at the agency's webhook",
    )
    tries = receiver.seen(pharmacy, referral_id, status=-1)
    assert [a.status for a in tries] == [500, 500, 500, 500, 204], (
        "retried after each 500, then once accepted"
    )
    assert len(got) == 1
    assert got[0].event["type"] == "agency.referral"
    assert receiver.refused() == [], "every request carried a valid, fresh signature"
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(tries)]
    for n, gap in enumerate(gaps, start=1):
        # Full jitter draws each wait from 0 up to initial × 2^(n−1); the loop's tick and the request add a little.
        assert gap <= FAST["initial_seconds"] * 2 ** (n - 1) + 0.6, (
            f"wait {n} was {gap:.2f}s"
        )

    assert eventually(
        lambda: assignments(stack, referral_id)[0]["status"] == "offered",
        what="assignment.delivered after 2xx",
    )
    assignment_id = assignments(stack, referral_id)[0]["assignment_id"]
    delivered = [
        e
        for e in on_topic(stack, "assignment.delivered")
        if e.get("assignment_id") == assignment_id
    ]
    assert [e["channel"] for e in delivered] == ["webhook"]
    assert [
        e
        for e in on_topic(stack, "agency.demo-pharmacy.referrals")
        if e.get("referral_id") == referral_id
    ] == []
    status = delivery_status(stack, "demo-pharmacy")
    assert status["breaker"]["state"] == "closed"
    assert status["pending"] == 0


def test_the_signature_refuses_a_tampered_body_a_later_replay_and_a_refreshed_timestamp(
    stack: Stack, receiver: Receiver, pharmacy: str
) -> None:
    referral_id = submit(stack)
    genuine = eventually(
        lambda: receiver.seen(pharmacy, referral_id), what="a signed delivery"
    )[0]
    url = f"{receiver.base}{pharmacy}"

    def replay(body: bytes, signature: str) -> int:
        key = json.loads(genuine.body)["event_id"]
        headers = {
            "Signpost-Signature": signature,
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        }
        return httpx.post(url, content=body, headers=headers, timeout=10).status_code

    tampered = genuine.body.replace(b'"urgency":"', b'"urgency":"x', 1)
    assert tampered != genuine.body
    assert replay(tampered, genuine.signature) == 401
    stamp, _, signed = genuine.signature.partition(",")
    refreshed = f"t={int(stamp.removeprefix('t=')) + 60},{signed}"  # a replay passed off as a minute later
    assert replay(genuine.body, refreshed) == 401, (
        "the timestamp is signed with the body"
    )
    receiver.skew = 600
    try:
        assert replay(genuine.body, genuine.signature) == 401, (
            "ten minutes later the same request is a replay"
        )
    finally:
        receiver.skew = 0
    assert [a.status for a in receiver.refused()[-3:]] == [401, 401, 401]


@pytest.mark.hazard("HAZ-003")
def test_an_agency_that_hangs_does_not_hold_up_another(
    stack: Stack, receiver: Receiver, pharmacy: str
) -> None:
    assert (
        register(stack, "pic-croydon-north", f"{receiver.base}/hang").status_code == 200
    )
    body, client = needing("loneliness")
    submit(stack, body, client)
    hung = eventually(
        lambda: receiver.seen("/hang", status=None),
        what="a request to the hanging agency",
    )[0]
    healthy = submit(stack)
    got = eventually(
        lambda: receiver.seen(pharmacy, healthy), what="the other agency's delivery"
    )[0]
    assert TIMEOUT.read is not None
    assert got.at - hung.at < TIMEOUT.read, (
        "delivered while the hanging agency's request was still out"
    )


def test_a_failing_agency_opens_its_breaker_and_is_given_up_to_the_dead_letters_while_others_are_served(
    stack: Stack, receiver: Receiver, pharmacy: str
) -> None:
    with (
        socket.socket() as s
    ):  # a port nobody listens on: every attempt is refused at once
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/gone"
    agency = "social-services-croydon-north"
    retry = {"initial_seconds": 0.1, "max_seconds": 0.2, "give_up_after_seconds": 8}
    assert (
        register(stack, agency, dead_url, retry, client=f"agency-{agency}").status_code
        == 200
    )
    body, client = needing("home_heating")
    failing = submit(stack, body, client)

    opened = eventually(
        lambda: (
            (s := delivery_status(stack, agency))["breaker"]["state"] == "open" and s
        ),
        what="the breaker",
    )
    assert opened["breaker"]["consecutive_failures"] == 5
    assert opened["last_error"] == "ConnectError"
    healthy = submit(stack)
    assert eventually(
        lambda: receiver.seen(pharmacy, healthy), what="the healthy agency's delivery"
    )
    assert delivery_status(stack, agency)["pending"] == 1, (
        "served while the other agency's breaker was still open"
    )

    def dead_letters() -> list[dict[str, Any]]:
        topic = f"agency.{agency}.referrals"
        return [
            e
            for e in on_topic(stack, "signpost.deadletter")
            if e.get("consumer") == "signpost-notifier-webhook"
            and e["original_topic"] == topic
        ]

    letters = eventually(
        dead_letters, timeout=60, what="the given-up delivery on signpost.deadletter"
    )
    assert len(letters) == 1
    assert letters[0]["reason"] == "webhook gave up after 5 attempts: ConnectError", (
        "one probe per cool-down, none due yet"
    )
    assert (
        json.loads(base64.b64decode(letters[0]["payload_base64"]))["referral_id"]
        == failing
    )
    assert delivery_status(stack, agency)["deliveries"] == {"dead_lettered": 1}

    def kept() -> list[dict[str, Any]]:
        url = f"{stack.url('notifier')}/v1/dead-letters"
        found: list[dict[str, Any]] = httpx.get(
            url,
            params={"referral_id": failing},
            headers=bearer("operations"),
            timeout=10,
        ).json()["items"]
        return found

    listed = eventually(kept, what="the dead letter kept for operations to replay")
    assert [d["consumer"] for d in listed] == ["signpost-notifier-webhook"]
    assert assignments(stack, failing, client)[0]["status"] != "offered", (
        "never announced as delivered"
    )


def test_a_paused_agency_is_sent_nothing_until_resumed_or_its_pause_ends(
    stack: Stack, receiver: Receiver
) -> None:
    agency, path = (
        "community-nursing-croydon-north",
        "/ok/community-nursing-croydon-north",
    )
    assert register(stack, agency, f"{receiver.base}{path}").status_code == 200
    assert control(stack, agency, "pause", client="gp-h81001").status_code == 403
    assert control(stack, agency, "pause").json() == {
        "agency_id": agency,
        "paused": True,
        "until": None,
    }
    body, client = needing("community_nursing")
    first = submit(stack, body, client)

    def held() -> bool:
        status = delivery_status(stack, agency)
        later = datetime.now(UTC) + timedelta(minutes=30)
        return (
            status["pending"] == 1
            and datetime.fromisoformat(status["next_attempt_at"]) > later
        )

    assert eventually(held, what="the sender to look at the delivery and hold it back")
    assert delivery_status(stack, agency)["paused"] is True
    assert receiver.seen(path, first, status=-1) == []
    assert control(stack, agency, "resume").status_code == 200
    assert eventually(
        lambda: receiver.seen(path, first), what="the delivery once resumed"
    )

    ends = datetime.now(UTC) + timedelta(seconds=3)
    assert (
        control(
            stack,
            agency,
            "pause",
            until=(datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        ).status_code
        == 422
    )
    assert control(stack, agency, "pause", until=ends.isoformat()).status_code == 200
    second = submit(stack, body, client)
    got = eventually(
        lambda: receiver.seen(path, second), what="the delivery when the pause ends"
    )
    arrived = datetime.now(UTC) - timedelta(seconds=time.monotonic() - got[0].at)
    assert arrived >= ends - timedelta(seconds=0.1), (
        "nothing was sent before the pause ended"
    )


def test_removing_a_webhook_sends_what_waited_on_the_agencys_topic(
    stack: Stack, receiver: Receiver
) -> None:
    agency, path = "mental-health-croydon-north", "/ok/mental-health-croydon-north"
    assert register(stack, agency, f"{receiver.base}{path}").status_code == 200
    assert control(stack, agency, "pause").status_code == 200
    body, client = needing("mental_health")
    referral_id = submit(stack, body, client)
    assert eventually(
        lambda: delivery_status(stack, agency)["pending"] == 1,
        what="the delivery waiting for the webhook",
    )
    removed = httpx.delete(
        f"{stack.url('notifier')}/v1/agencies/{agency}/webhook",
        headers=bearer("operations"),
        timeout=10,
    )
    assert removed.json() == {
        "agency_id": agency,
        "channel": "kafka",
        "moved_to_topic": 1,
    }
    topic = f"agency.{agency}.referrals"
    copies = eventually(
        lambda: [
            e for e in on_topic(stack, topic) if e.get("referral_id") == referral_id
        ],
        what="the copy",
    )
    assert len(copies) == 1
    assert eventually(
        lambda: assignments(stack, referral_id, client)[0]["status"] == "offered",
        what="assignment.delivered",
    )
    assert delivery_status(stack, agency)["channel"] == "kafka"
    control(stack, agency, "resume")
    assert receiver.seen(path, referral_id, status=-1) == []


def test_webhook_changes_pauses_and_looks_are_on_the_audit_trail_and_the_secret_nowhere(
    stack: Stack,
) -> None:
    wanted = {
        ("register webhook", "granted"),
        ("register webhook", "refused"),
        ("remove webhook", "granted"),
        ("pause deliveries", "granted"),
        ("pause deliveries", "refused"),
        ("resume deliveries", "granted"),
        ("view delivery status", "granted"),
    }

    def recorded() -> set[tuple[str, str]]:
        search = httpx.post(
            f"{stack.url('audit')}/v1/audit/search",
            json={"event_types": ["access.recorded"], "limit": 1000},
            headers=bearer("operations"),
            timeout=10,
        )
        assert SECRET not in search.text
        return {
            (e["payload"]["function"], e["payload"]["outcome"])
            for e in search.json()["events"]
        }

    assert eventually(
        lambda: wanted <= recorded(), what="every webhook action as an access record"
    )
    assert SECRET not in stack.log_file("notifier").read_text()


def test_a_webhook_url_with_credentials_or_a_host_that_does_not_resolve_is_refused(
    stack: Stack,
) -> None:
    agency = "physiotherapy-croydon-north"  # on Kafka throughout this module
    with_user = register(stack, agency, "http://user:token@127.0.0.1:9/hook")
    assert (with_user.status_code, with_user.json()["detail"]) == (
        422,
        "the webhook URL must not carry a user name or password; the shared secret signs each delivery",
    )
    nowhere = register(stack, agency, "https://nowhere.invalid/hook")
    assert (nowhere.status_code, nowhere.json()["detail"]) == (
        422,
        "the webhook host nowhere.invalid does not resolve",
    )
    assert delivery_status(stack, agency)["channel"] == "kafka", (
        "a refused registration changes nothing"
    )
    assert "user:token" not in stack.log_file("notifier").read_text()


def test_outside_development_a_webhook_must_be_https_to_a_public_address_at_registration_and_at_delivery(
    stack: Stack, receiver: Receiver
) -> None:
    agency, path = (
        "occupational-therapy-croydon-north",
        "/ok/occupational-therapy-croydon-north",
    )
    assert register(stack, agency, f"{receiver.base}{path}").status_code == 200, (
        "allowed while the stack allows local hooks"
    )
    stack.service_env["notifier"] = {"SIGNPOST_WEBHOOK_ALLOW_PRIVATE": "false"}
    _restart_notifier(stack)
    try:
        plain = register(stack, agency, f"{receiver.base}{path}")
        assert (plain.status_code, plain.json()["detail"]) == (
            422,
            "a webhook must use https",
        )
        inside = register(
            stack, agency, f"https://127.0.0.1:{receiver.server.server_port}{path}"
        )
        assert (inside.status_code, inside.json()["detail"]) == (
            422,
            "the webhook host 127.0.0.1 resolves to 127.0.0.1, which is not a public address",
        )
        metadata = register(stack, agency, "https://169.254.169.254/latest/meta-data")
        assert metadata.status_code == 422

        # The hook registered before still points inside: each delivery checks again, and none is sent.
        body, client = needing("falls")
        referral_id = submit(stack, body, client)
        status = eventually(
            lambda: (s := delivery_status(stack, agency))["last_error"] and s,
            what="a refused attempt",
        )
        assert status["last_error"] == "not sent: a webhook must use https"
        assert receiver.seen(path, referral_id, status=-1) == []
    finally:
        stack.service_env.pop("notifier")
        _restart_notifier(stack)
        httpx.delete(
            f"{stack.url('notifier')}/v1/agencies/{agency}/webhook",
            headers=bearer("operations"),
            timeout=10,
        )


def _restart_notifier(stack: Stack) -> None:
    stack.stop_service("notifier")
    stack.start_service("notifier")
    stack.wait_ready("notifier")
