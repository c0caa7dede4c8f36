"""Metrics every service exposes, and a clean drain on SIGTERM."""

import asyncio
import json
import signal
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DescribeGroupsRequest, DescribeGroupsRequest_v2
from prometheus_client.parser import text_string_to_metric_families

from tests.support.running_stack import audit_trail, bearer, eventually, log_text
from toolbox.stack import SERVICES, Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)


def samples(
    stack: Stack, service: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{stack.url(service)}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(stack: Stack, service: str, name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    return sum(
        v
        for (n, ls), v in samples(stack, service).items()
        if n == name and set(wanted) <= set(ls)
    )


def test_metrics_count_consumed_and_produced_messages_per_topic(
    signpost_stack: Stack,
) -> None:
    before = value(
        signpost_stack,
        "router",
        "signpost_messages_consumed_total",
        topic="referral.submitted",
    )
    response = httpx.post(
        f"{signpost_stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer(),
        timeout=10,
    )
    referral_id = response.json()["referral_id"]
    eventually(
        lambda: (
            "assignment.delivered"
            in [e["event_type"] for e in audit_trail(signpost_stack, referral_id)]
        ),
        what="delivery",
    )
    assert (
        value(
            signpost_stack,
            "router",
            "signpost_messages_consumed_total",
            topic="referral.submitted",
        )
        >= before + 1
    )
    assert (
        value(
            signpost_stack,
            "router",
            "signpost_messages_produced_total",
            topic="referral.routed",
        )
        >= 1
    )
    assert (
        value(
            signpost_stack,
            "intake",
            "signpost_messages_produced_total",
            topic="referral.submitted",
        )
        >= 1
    )
    assert (
        value(
            signpost_stack,
            "router",
            "signpost_handler_seconds_count",
            consumer="signpost-router",
        )
        >= 1
    )
    names = {n for n, _ in samples(signpost_stack, "notifier")}
    assert {
        "signpost_consumer_lag",
        "signpost_outbox_depth",
        "signpost_dead_letters_total",
    } & names >= {
        "signpost_consumer_lag",
        "signpost_outbox_depth",
    }


def test_every_service_drains_and_exits_cleanly_on_sigterm(
    signpost_stack: Stack,
) -> None:
    for service in SERVICES:
        code = signpost_stack.stop_service(service, sig=signal.SIGTERM)
        # uvicorn finishes its graceful shutdown, then re-raises the signal it caught.
        assert code in (0, -signal.SIGTERM), f"{service} exited with {code}"
        lines = [
            json.loads(x)
            for x in log_text(signpost_stack, service).splitlines()
            if x.startswith("{")
        ]
        events = [x.get("event") for x in lines]
        assert "draining" in events
        assert events.index("stopped") > events.index("draining")
        # A clean drain leaves no step behind (signpost/drain.py logs one that overran or failed).
        left = [x for x in lines if str(x.get("event", "")).startswith("drain step")]
        assert not [x for x in left if x["event"] != "drain step slow"], left
    for service in SERVICES:  # the module fixture expects them back
        signpost_stack.start_service(service)
    for service in SERVICES:
        signpost_stack.wait_ready(service)


class _DescribeGroupsV2(DescribeGroupsRequest):  # type: ignore[misc]
    """DescribeGroups at v2: aiokafka 0.14 decodes a v3 answer with v2's schema and fails on it."""

    def build(self, request_struct_class: type) -> DescribeGroupsRequest_v2:  # type: ignore[override]
        return DescribeGroupsRequest_v2(self._groups)


async def _members(bootstrap: str) -> dict[str, set[str]]:
    """Each signpost consumer group the broker knows, with the client ids of its members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [
            g
            for g, *_ in await admin.list_consumer_groups()
            if g.startswith("signpost-")
        ]
        out: dict[str, set[str]] = {}
        for group in groups:
            coordinator = await admin.find_coordinator(group)
            response = await admin._send_request(
                _DescribeGroupsV2([group]), coordinator
            )
            for _error, name, _state, _type, _protocol, members in response.groups:
                out[name] = {client_id for _member, client_id, *_ in members}
        return out
    finally:
        await admin.close()


def test_the_broker_can_tell_each_services_consumers_apart(
    signpost_stack: Stack,
) -> None:
    """Each group's members name their service: the broker's request log, quotas and group listings can say who."""

    def joined() -> dict[str, set[str]]:
        found = asyncio.run(_members(signpost_stack.kafka_bootstrap))
        followed = {g: ids for g, ids in found.items() if ids}
        return (
            followed
            if {"signpost-router", "signpost-notifier", "signpost-audit"}
            <= set(followed)
            else {}
        )

    followed = eventually(joined, timeout=60, what="every service's consumers to join")
    for group, client_ids in followed.items():
        service = group.split("-")[1]
        assert client_ids == {f"signpost-{service}"}, (group, client_ids)
