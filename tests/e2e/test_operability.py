"""Metrics every service exposes, and a clean drain on SIGTERM."""

import json
import signal
from pathlib import Path

import httpx
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
    for service in SERVICES:  # the module fixture expects them back
        signpost_stack.start_service(service)
    for service in SERVICES:
        signpost_stack.wait_ready(service)
