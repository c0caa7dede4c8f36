"""An agency reads only its own topic: SCRAM principals and ACLs on a real secured broker, over TLS only.

Every refusal below sits next to a positive control with the same client code,
so a refusal means the ACL said no, not that the broker or the test was broken.
"""

import asyncio
import logging
import socket
import ssl
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from signpost.kafka_security import security_kwargs
from tests.integration.conftest import ALPHA, STRANGER, SecuredBroker

DEADLINE_S = 20.0


@pytest.fixture
def broker(secured_broker: SecuredBroker) -> SecuredBroker:
    return secured_broker


async def produce(broker: SecuredBroker, creds: dict[str, Any], topic: str) -> bytes:
    """Write one unique value and return it once the broker has acknowledged it."""
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        request_timeout_ms=10_000,
        **creds,
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    return value


async def consume_until(
    broker: SecuredBroker, creds: dict[str, Any], topic: str, group: str, wanted: bytes
) -> None:
    """Read from the start with this group until ``wanted`` arrives; raise whatever the broker refuses."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        **creds,
    )
    deadline = time.monotonic() + DEADLINE_S
    try:
        await consumer.start()
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            if any(r.value == wanted for records in batches.values() for r in records):
                return
        raise AssertionError(f"{wanted!r} not read from {topic} within {DEADLINE_S}s")
    finally:
        await consumer.stop()


def group(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def test_agency_reads_its_own_referrals(broker: SecuredBroker) -> None:
    sent = await produce(broker, broker.service("notifier"), "agency.alpha.referrals")
    await consume_until(
        broker,
        broker.agency(ALPHA),
        "agency.alpha.referrals",
        group("agency.alpha."),
        sent,
    )


async def test_agency_writes_its_own_outcomes_and_the_notifier_reads_them(
    broker: SecuredBroker,
) -> None:
    sent = await produce(broker, broker.agency(ALPHA), "agency.alpha.outcomes")
    await consume_until(
        broker,
        broker.service("notifier"),
        "agency.alpha.outcomes",
        "signpost-notifier",
        sent,
    )


@pytest.mark.hazard("HAZ-015")
async def test_agency_cannot_read_another_agencys_referrals(
    broker: SecuredBroker,
) -> None:
    await produce(broker, broker.service("notifier"), "agency.beta.referrals")
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_until(
            broker,
            broker.agency(ALPHA),
            "agency.beta.referrals",
            group("agency.alpha."),
            b"never",
        )


@pytest.mark.hazard("HAZ-015")
async def test_agency_cannot_write_another_agencys_outcomes(
    broker: SecuredBroker,
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(broker, broker.agency(ALPHA), "agency.beta.outcomes")


# Another agency's prefix, a service's group, and a name that merely starts with "agency.alpha".
@pytest.mark.hazard("HAZ-015")
@pytest.mark.parametrize(
    "outside", ["agency.beta.worker", "signpost-notifier", "agency.alphabet.worker"]
)
async def test_agency_cannot_consume_with_a_group_outside_its_prefix(
    broker: SecuredBroker, outside: str
) -> None:
    sent = await produce(broker, broker.service("notifier"), "agency.alpha.referrals")
    with pytest.raises(GroupAuthorizationFailedError):
        await consume_until(
            broker, broker.agency(ALPHA), "agency.alpha.referrals", outside, sent
        )


async def test_valid_credentials_without_acls_see_and_touch_nothing(
    broker: SecuredBroker,
) -> None:
    stranger = STRANGER.kwargs(broker.cafile)
    # Authentication succeeds (the admin client connects) but no topic is even visible.
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **stranger)
    try:
        await admin.start()
        assert await admin.list_topics() == []
    finally:
        await admin.close()
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(broker, stranger, "referral.submitted")
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_until(
            broker, stranger, "agency.alpha.referrals", group("agency.alpha."), b"never"
        )


async def test_wrong_password_is_refused_at_authentication(
    broker: SecuredBroker, caplog: pytest.LogCaptureFixture
) -> None:
    user = broker.principals.agencies[ALPHA].username
    with (
        caplog.at_level(logging.ERROR, logger="aiokafka"),
        pytest.raises(KafkaConnectionError),
    ):
        await produce(
            broker,
            security_kwargs(user, "not-the-password", str(broker.cafile)),
            "agency.alpha.outcomes",
        )
    assert "SaslAuthenticationFailed" in caplog.text


async def test_router_reads_submitted_and_writes_routed(broker: SecuredBroker) -> None:
    sent = await produce(broker, broker.service("intake"), "referral.submitted")
    await consume_until(
        broker, broker.service("router"), "referral.submitted", "signpost-router", sent
    )
    routed = await produce(broker, broker.service("router"), "referral.routed")
    await consume_until(
        broker,
        broker.service("notifier"),
        "referral.routed",
        "signpost-notifier",
        routed,
    )


async def test_router_cannot_read_agency_outcomes(broker: SecuredBroker) -> None:
    await produce(broker, broker.agency(ALPHA), "agency.alpha.outcomes")
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_until(
            broker,
            broker.service("router"),
            "agency.alpha.outcomes",
            "signpost-router",
            b"never",
        )


async def test_router_cannot_deliver_to_an_agency_directly(
    broker: SecuredBroker,
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(broker, broker.service("router"), "agency.alpha.referrals")


async def test_the_feedback_loop_flows_under_the_acls(broker: SecuredBroker) -> None:
    """Declines reach the router; cancellations reach the notifier, which raises escalations; each under its own group."""
    outcome = await produce(broker, broker.service("notifier"), "assignment.outcome")
    await consume_until(
        broker,
        broker.service("router"),
        "assignment.outcome",
        "signpost-router-reroute",
        outcome,
    )
    cancelled = await produce(broker, broker.service("intake"), "referral.cancelled")
    await consume_until(
        broker,
        broker.service("notifier"),
        "referral.cancelled",
        "signpost-notifier-cancellations",
        cancelled,
    )
    escalated = await produce(broker, broker.service("notifier"), "referral.escalated")
    await consume_until(
        broker,
        broker.service("intake"),
        "referral.escalated",
        "signpost-intake",
        escalated,
    )


async def test_a_service_cannot_borrow_another_services_consumer_group(
    broker: SecuredBroker,
) -> None:
    sent = await produce(broker, broker.service("intake"), "referral.submitted")
    with pytest.raises(GroupAuthorizationFailedError):
        await consume_until(
            broker,
            broker.service("router"),
            "referral.submitted",
            "signpost-notifier-outcomes",
            sent,
        )


def _handshake(bootstrap: str, context: ssl.SSLContext) -> dict[str, Any]:
    host, port = bootstrap.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        cert: dict[str, Any] = tls.getpeercert() or {}
        return cert


def test_the_broker_speaks_tls_with_a_certificate_from_the_local_ca(
    broker: SecuredBroker,
) -> None:
    cert = _handshake(
        broker.bootstrap, ssl.create_default_context(cafile=str(broker.cafile))
    )
    assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]


def test_a_client_that_does_not_trust_the_local_ca_cannot_connect(
    broker: SecuredBroker,
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(broker.bootstrap, ssl.create_default_context())


async def test_a_plaintext_client_with_valid_credentials_is_refused(
    broker: SecuredBroker,
) -> None:
    """The agency's own password, sent without TLS (SASL_PLAINTEXT): the broker never lets it in."""
    agency = broker.principals.agencies[ALPHA]
    plaintext = security_kwargs(agency.username, agency.password, None)
    assert plaintext["security_protocol"] == "SASL_PLAINTEXT"
    with pytest.raises((KafkaConnectionError, asyncio.TimeoutError)):
        async with asyncio.timeout(15):
            await produce(broker, plaintext, "agency.alpha.outcomes")
