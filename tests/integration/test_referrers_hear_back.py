"""Every organisation that may refer hears back on its feedback topic, also one registered while the system runs.

On the secured broker, each service as its own principal: social services (an
agency client that may also submit) refers and hears the ICN pharmacist's
acceptance on ``practice.LBCRO.feedback``; a GP practice added to the
registry file while the services run refers at once, and the notifier, with
its own grant (CREATE on ``practice.`` only), creates the topic its feedback
needs. Nothing is held in the notifier's outbox afterwards.
"""

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

from deploy.kafka import security
from tests.integration.conftest import SecuredBroker
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import _database, eventually
from toolbox.stack import Stack
from toolbox.tokens import DEV_CLIENTS, DEV_DIR, dev_token, write_dev_registry
from toolbox.topic_reader import read_all

_BASE = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 110
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
NEW_GP = {"client_id": "gp-y02345", "organisation": "Y02345", "role": "referrer"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry of the development clients the services read, which a test may add to while they run."""
    directory = tmp_path_factory.mktemp("registry")
    shutil.copytree(DEV_DIR / "keys", directory / "keys")
    write_dev_registry(directory, DEV_CLIENTS)
    return directory


@pytest.fixture(scope="module")
def stack(
    infrastructure: Infrastructure, secured_broker: SecuredBroker, registry: Path
) -> Iterator[Stack]:
    per_service = {
        s: {
            "SIGNPOST_KAFKA_SASL_USERNAME": c.username,
            "SIGNPOST_KAFKA_SASL_PASSWORD": c.password,
            "SIGNPOST_KAFKA_SSL_CAFILE": str(secured_broker.cafile),
        }
        for s, c in secured_broker.principals.services.items()
    }
    certificates = security.local_tls(secured_broker.cafile.parent.parent)
    running = Stack(
        secured_broker.bootstrap,
        _database(infrastructure, "referrers_hear_back"),
        infrastructure.state_dir / "referrers_hear_back",
        ports=PORTS,
        service_env=per_service,
        tls=certificates,
        extra_env={"SIGNPOST_CLIENTS_FILE": str(registry / "clients.yaml")},
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def _bearer(client_id: str, registry: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(client_id, directory=registry)}"}


def _submit(stack: Stack, body: dict[str, Any], client_id: str, registry: Path) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body,
        headers=_bearer(client_id, registry),
        verify=stack.verify,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["referral_id"])


def _records(
    broker: SecuredBroker, topic: str, referral_id: str, creds: dict[str, Any]
) -> list[dict[str, Any]]:
    try:
        found = asyncio.run(
            read_all(
                broker.bootstrap, topic, wait_s=5, metadata_max_age_ms=1000, **creds
            )
        )
    except (TimeoutError, UnknownTopicOrPartitionError):  # the topic is not there (yet)
        return []
    return [r for r in found if r.get("referral_id") == referral_id]


def _accept(broker: SecuredBroker, agency: str, assignment_id: str) -> None:
    outcome = {
        "event_id": str(uuid.uuid4()),
        "assignment_id": assignment_id,
        "outcome": "accepted",
        "occurred_at": datetime.now(UTC).isoformat(),
    }

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap, acks="all", **broker.agency(agency)
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                f"agency.{agency}.outcomes", json.dumps(outcome).encode()
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def _round_trip(
    stack: Stack, broker: SecuredBroker, referral_id: str, agency: str, ods: str
) -> list[dict[str, Any]]:
    """The agency reads its copy with its own credentials and accepts; returns what the referrer heard."""
    copies = eventually(
        lambda: _records(
            broker, f"agency.{agency}.referrals", referral_id, broker.agency(agency)
        ),
        timeout=90,
        what=f"{agency} to receive the referral",
    )
    _accept(broker, agency, copies[0]["assignment"]["assignment_id"])
    heard: list[dict[str, Any]] = eventually(
        lambda: _records(broker, f"practice.{ods}.feedback", referral_id, broker.admin),
        timeout=90,
        what=f"{ods} to hear the acceptance on its feedback topic",
    )
    return heard


def _nothing_held(stack: Stack) -> bool:
    ready: dict[str, Any] = httpx.get(
        f"{stack.url('notifier')}/readyz", verify=stack.verify, timeout=5
    ).json()
    held: dict[str, str] = ready["outbox_held"]
    return not held


@pytest.mark.hazard("HAZ-016")
def test_social_services_refers_as_an_agency_client_and_hears_the_pharmacists_acceptance(
    stack: Stack, secured_broker: SecuredBroker, registry: Path
) -> None:
    body = json.loads(json.dumps(REFERRAL))
    body["referrer"] = {
        "ods_code": "LBCRO",
        "practitioner": "Social worker C",
        "role": "social_worker",
    }
    body["needs"], body["red_flags"] = (
        ["social_care_assessment"],
        ["medicines_stockpile", "expired_medicines"],
    )
    del body["chosen_pharmacy_ods"]
    referral_id = _submit(stack, body, "agency-social-services-croydon-north", registry)

    heard = _round_trip(
        stack, secured_broker, referral_id, "icn-pharmacist-croydon-north", "LBCRO"
    )
    assert [(f["practice_ods"], f["status"]) for f in heard] == [("LBCRO", "accepted")]
    assert eventually(
        lambda: _nothing_held(stack),
        timeout=30,
        what="the notifier's outbox to hold nothing back",
    )


@pytest.mark.hazard("HAZ-016")
def test_a_practice_added_to_the_registry_while_the_system_runs_refers_and_hears_back(
    stack: Stack, secured_broker: SecuredBroker, registry: Path
) -> None:
    assert "practice.Y02345.feedback" not in asyncio.run(_topics(secured_broker))
    write_dev_registry(
        registry, [*DEV_CLIENTS, NEW_GP]
    )  # no restart: every service reads the file again
    body = json.loads(json.dumps(REFERRAL))
    body["referrer"] = {
        "ods_code": "Y02345",
        "practitioner": "Reception B",
        "role": "gp_receptionist",
    }
    referral_id = _submit(stack, body, "gp-y02345", registry)

    heard = _round_trip(stack, secured_broker, referral_id, "demo-pharmacy", "Y02345")
    assert [(f["practice_ods"], f["status"]) for f in heard] == [("Y02345", "accepted")]
    assert eventually(
        lambda: _nothing_held(stack),
        timeout=90,
        what="the notifier's outbox to hold nothing back",
    )


async def _topics(broker: SecuredBroker) -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **broker.admin)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


TOPIC_AUTHORIZATION_FAILED = 29  # Kafka's error code


async def _create(
    broker: SecuredBroker, creds: dict[str, Any], topic: str
) -> int | str | None:
    """None if this principal could create the topic, else the broker's error code (or the client's error)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **creds)
    await admin.start()
    try:
        answer = await admin.create_topics([NewTopic(topic, 1, 1)])
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        await admin.close()
    codes = [int(t[1]) for t in answer.topic_errors if t[1]]
    return codes[0] if codes else None


def test_the_notifier_may_create_feedback_topics_and_nothing_else_and_an_agency_not_even_those(
    secured_broker: SecuredBroker,
) -> None:
    notifier = secured_broker.service("notifier")
    assert (
        asyncio.run(_create(secured_broker, notifier, "practice.Q99001.feedback"))
        is None
    )
    for elsewhere in (
        "agency.nobody.referrals",
        "referral.reopened",
        "signpost.anything",
    ):
        assert (
            asyncio.run(_create(secured_broker, notifier, elsewhere))
            == TOPIC_AUTHORIZATION_FAILED
        ), elsewhere
    agency = secured_broker.agency("alpha")
    assert (
        asyncio.run(_create(secured_broker, agency, "practice.Q99002.feedback"))
        == TOPIC_AUTHORIZATION_FAILED
    )
    assert "practice.Q99002.feedback" not in asyncio.run(_topics(secured_broker))
    assert "agency.nobody.referrals" not in asyncio.run(_topics(secured_broker))
