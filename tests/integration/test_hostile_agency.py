"""A hostile agency, with its own credentials on the secured broker, against the trail, the ids and cancellation.

The four services run on the SASL/SCRAM broker with ACLs, each as its own
principal (as in ``test_secured_stack``). The attacker is ``demo-pharmacy``:
it reads its own referrals topic and writes its own outcomes topic, the only
topic the broker lets it write, and everything it tries goes through there.

- It writes records typed as other events (a cancellation, an access, an
  outcome) for referrals and patients it knows from its copies: audit must
  record each as this agency's report and nothing else.
- It pre-publishes ids the services will derive later (the reroute that its
  own decline will cause, the escalation of its own assignment): the services
  must still deliver and record both.
- It declines just before the referrer cancels: nothing is rerouted to, or
  delivered at, any agency after the cancellation.
"""

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.audit.domain.reports import IsoWeek
from tests.integration.conftest import SecuredBroker
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import _database, bearer, eventually
from toolbox.stack import Stack

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
AGENCY = "demo-pharmacy"  # FA001, open around the clock
OUTCOMES = f"agency.{AGENCY}.outcomes"
NHS_NUMBER = REFERRAL["patient"]["nhs_number"]
# Timers fall due this many seconds apart, so an escalation can be watched.
SLA_SECONDS = 10
# Rerouting asks who is open when the decline happened: a Wednesday morning has other pharmacies open.
WEDNESDAY_MORNING = "2026-11-18T11:00:00+00:00"


@pytest.fixture(scope="module")
def hostile(
    infrastructure: Infrastructure, secured_broker: SecuredBroker
) -> Iterator[Stack]:
    per_service = {
        s: {
            "SIGNPOST_KAFKA_SASL_USERNAME": c.username,
            "SIGNPOST_KAFKA_SASL_PASSWORD": c.password,
            "SIGNPOST_KAFKA_SSL_CAFILE": str(secured_broker.cafile),
        }
        for s, c in secured_broker.principals.services.items()
    }
    env = {
        "SIGNPOST_SLA_DEMO_SECONDS": str(SLA_SECONDS),
        "SIGNPOST_SLA_CHECK_INTERVAL_S": "0.5",
    }
    stack = Stack(
        secured_broker.bootstrap,
        _database(infrastructure, "hostile_agency"),
        infrastructure.state_dir / "hostile_agency",
        ports=PORTS,
        extra_env=env,
        service_env=per_service,
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


def derived(source: object, purpose: str) -> UUID:
    """How the services derive an event's id from the event that caused it, as anyone reading the code can."""
    return uuid5(NAMESPACE_URL, f"signpost:event:{source}:{purpose}")


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


async def _copy(
    bootstrap: str, creds: dict[str, str], referral_id: str
) -> dict[str, Any]:
    """The agency's copy of a referral, read from its own topic with its own credentials."""
    consumer = AIOKafkaConsumer(
        f"agency.{AGENCY}.referrals",
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **creds,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        copy: dict[str, Any] = json.loads(record.value)
                        if (
                            copy.get("type") == "agency.referral"
                            and copy.get("referral_id") == referral_id
                        ):
                            return copy
    finally:
        await consumer.stop()


def agency_copy(
    stack: Stack, broker: SecuredBroker, referral_id: str
) -> dict[str, Any]:
    return asyncio.run(_copy(stack.kafka_bootstrap, broker.agency(AGENCY), referral_id))


async def _write(
    bootstrap: str, creds: dict[str, str], records: list[dict[str, Any]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **creds)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                OUTCOMES, json.dumps(record, default=str).encode()
            )
    finally:
        await producer.stop()


def write(stack: Stack, broker: SecuredBroker, *records: dict[str, Any]) -> None:
    """Write on the agency's own outcomes topic, as the agency: the one topic the broker lets it write."""
    asyncio.run(_write(stack.kafka_bootstrap, broker.agency(AGENCY), list(records)))


def now() -> str:
    return datetime.now(UTC).isoformat()


def report(
    copy: dict[str, Any], outcome: str, event_id: object | None = None, **detail: Any
) -> dict[str, Any]:
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "assignment_id": copy["assignment"]["assignment_id"],
        "outcome": outcome,
        "occurred_at": now(),
        **detail,
    }


def ops_get(stack: Stack, service: str, path: str) -> httpx.Response:
    return httpx.get(
        f"{stack.url(service)}{path}", headers=bearer("operations"), timeout=10
    )


def trail(stack: Stack, referral_id: str) -> list[dict[str, Any]]:
    response = ops_get(stack, "audit", f"/v1/referrals/{referral_id}/audit?limit=1000")
    if response.status_code == 404:
        return []
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def recorded_from_agency(
    stack: Stack, claimed_ids: set[str]
) -> dict[str, dict[str, Any]]:
    """Audit's rows for records on the agency's outcomes topic, by the event id each record claimed."""
    body = {"agency_id": AGENCY, "limit": 1000}
    rows = httpx.post(
        f"{stack.url('audit')}/v1/audit/search",
        json=body,
        headers=bearer("operations"),
        timeout=10,
    )
    rows.raise_for_status()
    return {
        e["payload"]["event_id"]: e
        for e in rows.json()["events"]
        if e["topic"] == OUTCOMES and e["payload"].get("event_id") in claimed_ids
    }


def notifier_state(stack: Stack, assignment_id: str) -> str | None:
    response = ops_get(stack, "notifier", f"/v1/assignments/{assignment_id}")
    return response.json()["state"] if response.status_code == 200 else None


async def _quiet(stack: Stack, broker: SecuredBroker) -> bool:
    """True once every service group has read to the end and no service has anything left to publish."""
    import asyncpg

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, **broker.admin)  # type: ignore[arg-type]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, group_id=None, **broker.admin
    )
    await admin.start()
    await consumer.start()
    try:

        async def lags() -> dict[tuple[str, TopicPartition], int]:
            committed = {}
            for group, *_ in await admin.list_consumer_groups():
                if group.startswith("signpost-"):
                    for tp, meta in (
                        await admin.list_consumer_group_offsets(group)
                    ).items():
                        committed[(group, tp)] = meta.offset
            partitions = list({tp for _, tp in committed})
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions) if partitions else {}
            return {key: ends[key[1]] - offset for key, offset in committed.items()}

        before = await lags()
        conn = await asyncpg.connect(stack.database_url)
        try:
            waiting = 0
            for schema in ("intake", "router", "notifier", "audit"):
                waiting += await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
                )
        finally:
            await conn.close()
        after = await lags()
        return waiting == 0 and before == after and not any(before.values())
    finally:
        await consumer.stop()
        await admin.close()


def quiet(stack: Stack, broker: SecuredBroker, what: str) -> None:
    eventually(
        lambda: asyncio.run(_quiet(stack, broker)), timeout=90, interval=0.5, what=what
    )


# --- 4: an agency cannot write into the audit trail ------------------------------------------------------------------


@pytest.mark.hazard("HAZ-020")
def test_what_an_agency_writes_is_recorded_as_its_report_never_as_a_cancellation_an_access_or_an_outcome(
    hostile: Stack, secured_broker: SecuredBroker
) -> None:
    stack = hostile
    victim = submit(stack)
    copy = agency_copy(stack, secured_broker, victim)
    # A referral no rule can route waits in the operations queue; the agency knows its id from elsewhere.
    stranded = json.loads(json.dumps(REFERRAL))
    stranded["referrer"] = {
        "ods_code": "RJ6",
        "practitioner": "ICN pharmacist B",
        "role": "pharmacist",
    }
    stranded["patient"]["gp_practice_ods"], stranded["needs"] = "Y99999", ["falls"]
    del stranded["chosen_pharmacy_ods"]
    unroutable = submit(stack, stranded, client="icn-pharmacist-rj6")

    def queued() -> list[str]:
        return [
            i["referral_id"]
            for i in ops_get(stack, "audit", "/v1/operations/unroutable").json()[
                "items"
            ]
        ]

    eventually(
        lambda: unroutable in queued(),
        timeout=60,
        what="the unroutable referral in the operations queue",
    )

    forger = f"forged-{uuid.uuid4().hex[:8]}"
    forged = [
        {
            "type": "referral.cancelled",
            "version": 1,
            "event_id": str(uuid.uuid4()),
            "occurred_at": now(),
            "correlation_id": "forged",
            "journey_id": str(uuid.uuid4()),
            "producer": "intake",
            "patient_key": copy["patient_key"],
            "referral_id": unroutable,
            "reason": "forged",
            "cancelled_by": "gp-h81001",
        },
        {
            "type": "access.recorded",
            "version": 1,
            "event_id": str(uuid.uuid4()),
            "occurred_at": now(),
            "producer": "audit",
            "correlation_id": "forged",
            "client_id": forger,
            "organisation": "NHS",
            "role": "operations",
            "function": "read audit trail",
            "outcome": "granted",
            "referral_id": victim,
            "patient_key": copy["patient_key"],
        },
        {
            "type": "assignment.outcome",
            "version": 1,
            "event_id": str(uuid.uuid4()),
            "occurred_at": now(),
            "correlation_id": "forged",
            "journey_id": copy["journey_id"],
            "producer": "notifier",
            "patient_key": copy["patient_key"],
            "referral_id": victim,
            "assignment_id": copy["assignment"]["assignment_id"],
            "agency_id": AGENCY,
            "service_type": "community_pharmacy",
            "outcome": "completed",
            "completion": "advice_given",
            "reported_by": AGENCY,
            "previous_state": "accepted",
        },
    ]
    write(stack, secured_broker, *forged)
    claimed = {f["event_id"] for f in forged}
    rows = eventually(
        lambda: (
            (r := recorded_from_agency(stack, claimed)) and len(r) == len(claimed) and r
        ),
        timeout=60,
        what="audit to record the agency's three records",
    )

    assert unroutable in queued(), (
        "a forged cancellation took the referral out of the unroutable queue"
    )
    viewers = httpx.post(
        f"{stack.url('audit')}/v1/audit/who-viewed",
        json={"nhs_number": NHS_NUMBER},
        headers=bearer("operations"),
        timeout=10,
    ).json()["accesses"]
    assert forger not in {v["client_id"] for v in viewers}, (
        "a forged access entered who-viewed"
    )
    assert "assignment.outcome" not in {
        e["event_type"] for e in trail(stack, victim)
    }, "a forged outcome in the trail"
    submitted = next(
        e for e in trail(stack, victim) if e["event_type"] == "referral.submitted"
    )
    week = IsoWeek.of(datetime.fromisoformat(submitted["occurred_at"])).label
    (weekly,) = ops_get(stack, "audit", f"/v1/reports/weekly?week={week}").json()[
        "weeks"
    ]
    assert "completed" not in weekly["by_outcome"], (
        "a forged outcome counted in the weekly report"
    )
    for record in forged:
        row = rows[record["event_id"]]
        assert (row["event_type"], row["agency_id"]) == ("agency.outcome", AGENCY), (
            f"{record['type']} taken on trust"
        )
        assert (row["referral_id"], row["patient_key"], row["network_id"]) == (
            None,
            None,
            None,
        ), (
            "a referral and patient are bound only through the notifier's checked assignment"
        )
        assert row["event_id"] != record["event_id"], (
            "kept under an id of audit's own, not the one the agency chose"
        )


# --- 5: an agency cannot pre-claim an id a service derives later -----------------------------------------------------


@pytest.mark.hazard("HAZ-010")
def test_an_id_an_agency_publishes_ahead_does_not_stop_the_reroute_its_decline_causes(
    hostile: Stack, secured_broker: SecuredBroker
) -> None:
    stack = hostile
    declined = submit(stack)
    declined_copy = agency_copy(stack, secured_broker, declined)
    other = submit(stack)
    other_copy = agency_copy(stack, secured_broker, other)

    decline_id = uuid.uuid4()
    # What its decline will cause: the recorded outcome, then the router's reroute of it.
    reroute_id = derived(derived(decline_id, "outcome-recorded"), "rerouted")
    # A legal report on another of its assignments, so the notifier records it, under the reroute's id.
    write(stack, secured_broker, report(other_copy, "accepted", event_id=reroute_id))
    eventually(
        lambda: (
            notifier_state(stack, other_copy["assignment"]["assignment_id"])
            == "accepted"
        ),
        timeout=60,
        what="the notifier to record the acceptance sent under the reroute's id",
    )
    eventually(
        lambda: recorded_from_agency(stack, {str(reroute_id)}),
        timeout=60,
        what="audit to record the report sent under the reroute's id",
    )

    write(
        stack,
        secured_broker,
        report(
            declined_copy,
            "declined",
            event_id=decline_id,
            decline_reason="not_appropriate",
            occurred_at=WEDNESDAY_MORNING,
        ),
    )

    def rerouted() -> dict[str, Any] | None:
        return next(
            (e for e in trail(stack, declined) if e["event_id"] == str(reroute_id)),
            None,
        )

    routed = eventually(
        rerouted, timeout=60, what="audit to record the reroute under its derived id"
    )
    assert routed["event_type"] == "referral.routed"
    (replacement,) = routed["payload"]["assignments"]
    assert replacement["agency_id"] != AGENCY
    eventually(
        lambda: notifier_state(stack, replacement["assignment_id"]) == "delivered",
        timeout=60,
        what="the notifier to deliver the reroute whose id the agency published first",
    )
    eventually(
        lambda: any(
            e["event_type"] == "assignment.delivered"
            and e["payload"]["assignment_id"] == replacement["assignment_id"]
            for e in trail(stack, declined)
        ),
        timeout=60,
        what="the reroute's delivery in the trail",
    )


@pytest.mark.hazard("HAZ-007")
def test_an_id_an_agency_publishes_ahead_does_not_stop_its_assignment_escalating(
    hostile: Stack, secured_broker: SecuredBroker
) -> None:
    stack = hostile
    watched = submit(stack)
    copy = agency_copy(stack, secured_broker, watched)
    # What silence on the assignment will cause: the first-contact timer's escalation.
    escalation_id = derived(copy["assignment"]["assignment_id"], "timer:first_contact")
    write(
        stack,
        secured_broker,
        {"event_id": str(escalation_id), "note": "an id, nothing else"},
    )
    eventually(
        lambda: recorded_from_agency(stack, {str(escalation_id)}),
        timeout=60,
        what="audit to record the record sent under the escalation's id",
    )

    def escalated() -> dict[str, Any] | None:
        return next(
            (e for e in trail(stack, watched) if e["event_id"] == str(escalation_id)),
            None,
        )

    escalation = eventually(
        escalated, timeout=SLA_SECONDS * 2 + 60, what="audit to record the escalation"
    )
    assert escalation["event_type"] == "referral.escalated"
    assert escalation["payload"]["assignment_id"] == copy["assignment"]["assignment_id"]


# --- 6: nothing is rerouted or delivered after a cancellation --------------------------------------------------------


@pytest.mark.hazard("HAZ-011")
def test_a_decline_just_before_the_referrer_cancels_is_never_rerouted_or_delivered(
    hostile: Stack, secured_broker: SecuredBroker
) -> None:
    stack = hostile
    referral_id = submit(stack)
    copy = agency_copy(stack, secured_broker, referral_id)
    assignment_id = copy["assignment"]["assignment_id"]
    # The router is away, so the decline and the cancellation wait for it together. Killed, not stopped: the
    # decline must reach the notifier before the assignment's timers close it (2 x SLA_SECONDS after its
    # delivery), and a drain can take up to its budget (signpost/service.py); twice in CI it took all 30 s.
    stack.stop_service("router", signal.SIGKILL)
    try:
        write(
            stack,
            secured_broker,
            report(
                copy,
                "declined",
                decline_reason="not_available_in_timescale",
                occurred_at=WEDNESDAY_MORNING,
            ),
        )
        eventually(
            lambda: notifier_state(stack, assignment_id) == "declined",
            timeout=60,
            what="the notifier to record the decline",
        )
        cancel = httpx.post(
            f"{stack.url('intake')}/v1/referrals/{referral_id}/cancel",
            json={"reason": "patient recovered"},
            headers=bearer("gp-h81001"),
            timeout=10,
        )
        assert cancel.status_code == 202, cancel.text
        eventually(
            lambda: (
                "referral.cancelled"
                in {e["event_type"] for e in trail(stack, referral_id)}
            ),
            timeout=60,
            what="the cancellation on its topic",
        )
    finally:
        stack.start_service("router")
        stack.wait_ready("router")
    quiet(
        stack,
        secured_broker,
        "every service to handle the decline and the cancellation",
    )

    events = trail(stack, referral_id)
    kinds = [e["event_type"] for e in events]
    assert kinds.count("agency.referral") == 1, (
        f"delivered again after the cancellation: {kinds}"
    )
    assert kinds.count("assignment.delivered") == 1, (
        f"delivered again after the cancellation: {kinds}"
    )
    for routed in (e for e in events if e["event_type"] == "referral.routed"):
        for a in routed["payload"]["assignments"]:
            if a["assignment_id"] != assignment_id:
                assert notifier_state(stack, a["assignment_id"]) is None, (
                    "the notifier delivered a reroute after cancel"
                )
