"""The four services on a SASL_SSL/SCRAM broker with ACLs, each as its own principal, and an agency as its own.

Every connection is encrypted: Kafka over TLS verified against the local CA,
and each service's HTTP as HTTPS only (plain HTTP gets no answer).

A referral goes in over HTTP and comes out on the agency's topic, which the
agency reads with its own credentials; the agency's outcome goes back on its
own outcomes topic and the notifier records it. A poison report is
dead-lettered and replayed by operations onto the agency's topic. Every hop
passes the broker's authoriser, so a missing grant in ``deploy/kafka/acls.py``
fails these tests.
"""

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.kafka import security
from deploy.kafka.security import Principals
from tests.integration.conftest import SecuredBroker
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import _database, bearer, eventually
from toolbox.stack import SERVICES, Stack

_BASE = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 100
PORTS = {
    "intake": _BASE + 1,
    "router": _BASE + 2,
    "notifier": _BASE + 3,
    "audit": _BASE + 4,
}
REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
AGENCY = "demo-pharmacy"


@pytest.fixture(scope="module")
def secured(
    infrastructure: Infrastructure, secured_broker: SecuredBroker
) -> Iterator[tuple[Stack, Principals]]:
    principals = secured_broker.principals
    per_service = {
        s: {
            "SIGNPOST_KAFKA_SASL_USERNAME": c.username,
            "SIGNPOST_KAFKA_SASL_PASSWORD": c.password,
            "SIGNPOST_KAFKA_SSL_CAFILE": str(secured_broker.cafile),
        }
        for s, c in principals.services.items()
    }
    # The broker's certificate (same local CA) serves the services' HTTPS too, as `make run` does.
    certificates = security.local_tls(secured_broker.cafile.parent.parent)
    stack = Stack(
        secured_broker.bootstrap,
        _database(infrastructure, "secured_stack"),
        infrastructure.state_dir / "secured_stack",
        ports=PORTS,
        service_env=per_service,
        tls=certificates,
    )
    try:
        stack.start_all()
        yield stack, principals
    finally:
        stack.stop_all()


async def _read_agency_copy(
    stack: Stack, creds: dict[str, Any], referral_id: str
) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        f"agency.{AGENCY}.referrals",
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=f"agency.{AGENCY}.worklist",
        auto_offset_reset="earliest",
        **creds,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        copy: dict[str, Any] = json.loads(record.value)
                        if copy.get("referral_id") == referral_id:
                            return copy
    finally:
        await consumer.stop()


async def _report(
    stack: Stack, creds: dict[str, Any], outcome: dict[str, Any] | bytes
) -> tuple[int, int]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, acks="all", **creds
    )
    await producer.start()
    try:
        body = outcome if isinstance(outcome, bytes) else json.dumps(outcome).encode()
        sent = await producer.send_and_wait(f"agency.{AGENCY}.outcomes", body)
        return int(sent.partition), int(sent.offset)
    finally:
        await producer.stop()


def test_each_service_answers_only_https_verified_by_the_local_ca(
    secured: tuple[Stack, Principals],
) -> None:
    stack, _ = secured
    for service in SERVICES:
        assert stack.url(service).startswith("https://")
        assert (
            httpx.get(
                f"{stack.url(service)}/healthz", timeout=5, verify=stack.verify
            ).status_code
            == 200
        )
        with pytest.raises(httpx.HTTPError):
            httpx.get(
                stack.url(service).replace("https://", "http://") + "/healthz",
                timeout=3,
            ).raise_for_status()


def test_each_service_runs_as_its_own_principal_and_the_agency_round_trip_passes_the_acls(
    secured: tuple[Stack, Principals], secured_broker: SecuredBroker
) -> None:
    stack, _ = secured
    http = httpx.Client(verify=stack.verify, timeout=10)
    for service in SERVICES:
        assert (
            http.get(f"{stack.url(service)}/readyz").json()["checks"]["kafka"] == "ok"
        )
    response = http.post(
        f"{stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer("gp-h81001"),
    )
    assert response.status_code == 202, response.text
    referral_id = response.json()["referral_id"]

    agency = secured_broker.agency(AGENCY)
    copy = asyncio.run(_read_agency_copy(stack, agency, referral_id))
    assert copy["type"] == "agency.referral"
    assert copy["version"] == 2
    accepted = {
        "event_id": str(uuid.uuid4()),
        "assignment_id": copy["assignment"]["assignment_id"],
        "outcome": "accepted",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    asyncio.run(_report(stack, agency, accepted))

    assignment = (
        f"{stack.url('notifier')}/v1/assignments/{copy['assignment']['assignment_id']}"
    )
    assert eventually(
        lambda: (
            http.get(assignment, headers=bearer("operations")).json().get("state")
            == "accepted"
        ),
        timeout=60,
        what="the notifier to record the agency's acceptance from its outcomes topic",
    )
    trail = f"{stack.url('audit')}/v1/referrals/{referral_id}/audit"
    eventually(
        lambda: (
            {
                e["event_type"]
                for e in http.get(trail, headers=bearer("operations"))
                .json()
                .get("events", [])
            }
            >= {
                "referral.submitted",
                "referral.routed",
                "agency.referral",
                "assignment.delivered",
                "assignment.outcome",
            }
        ),
        timeout=60,
        what="audit to record the whole round trip",
    )


def test_operations_replay_a_dead_lettered_agency_report_onto_the_agencys_topic(
    secured: tuple[Stack, Principals], secured_broker: SecuredBroker
) -> None:
    stack, _ = secured
    http = httpx.Client(verify=stack.verify, timeout=10)
    partition, offset = asyncio.run(
        _report(stack, secured_broker.agency(AGENCY), b"<outcome>accepted</outcome>")
    )
    letters = f"{stack.url('audit')}/v1/operations/dead-letters"

    def listed() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = http.get(
            letters, headers=bearer("operations")
        ).json()["items"]
        return items

    def notifiers_letter() -> dict[str, Any] | None:
        source = (f"agency.{AGENCY}.outcomes", partition, offset)
        return next(
            (
                d
                for d in listed()
                if d["consumer"] == "signpost-notifier-outcomes"
                and (d["original_topic"], d["original_partition"], d["original_offset"])
                == source
            ),
            None,
        )

    letter = eventually(
        notifiers_letter,
        timeout=60,
        what="the notifier to dead-letter the agency's poison report",
    )
    known = f"{stack.url('notifier')}/v1/dead-letters"
    eventually(
        lambda: any(
            d["dead_letter_id"] == letter["dead_letter_id"]
            for d in http.get(known, headers=bearer("operations")).json()["items"]
        ),
        what="the notifier to keep the dead letter",
    )

    replay = http.post(
        f"{letters}/{letter['dead_letter_id']}/replay", headers=bearer("operations")
    )
    assert replay.status_code == 200, replay.text
    # Back on the agency's topic (the notifier's grant to write it) and refused again; the replay recorded (its grant
    # on signpost.replays, audit's on the signpost. prefix).
    # Audit refuses the replayed record too, and may say so first: wait for the notifier's own refusal.
    again = eventually(
        lambda: [
            d
            for d in listed()
            if d["replay_of"] == letter["dead_letter_id"]
            and d["consumer"] == "signpost-notifier-outcomes"
        ],
        timeout=60,
        what="the replayed report to reach the notifier again",
    )
    assert [d["original_topic"] for d in again] == [f"agency.{AGENCY}.outcomes"]
    shown = eventually(
        lambda: next(
            d for d in listed() if d["dead_letter_id"] == letter["dead_letter_id"]
        )["replayed"],
        timeout=60,
        what="audit to record the replay",
    )
    assert (shown["by"], shown["replay"], shown["forced"]) == ("operations", 1, False)
