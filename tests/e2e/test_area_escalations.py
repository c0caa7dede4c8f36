"""An SLA breach in Dorset reads in Dorset's words, on the real stack with the demo's shortened timers.

Its own stack, because its timers fall due seconds apart (``SIGNPOST_SLA_DEMO_SECONDS``), as in the feedback-loop tests.
"""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_routing_scenarios import professional_referral, routed
from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import read_all
from tests.support.running_stack import eventually, running
from toolbox.stack import Stack

SLA_SECONDS = 4


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    env = {
        "SIGNPOST_SLA_DEMO_SECONDS": str(SLA_SECONDS),
        "SIGNPOST_SLA_CHECK_INTERVAL_S": "0.5",
    }
    with running(infrastructure, "e2e_area_escalations", extra_env=env) as s:
        yield s


def about(stack: Stack, topic: str, assignment_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in asyncio.run(read_all(stack.kafka_bootstrap, topic))
        if r.get("assignment_id") == assignment_id
    ]


def test_a_virtual_ward_nobody_acts_on_is_escalated_to_the_hubs_coordinator_in_dorsets_words(
    stack: Stack,
) -> None:
    view = routed(
        stack, professional_referral(["home_heating", "loneliness"], practice="J81001")
    )
    ward = next(a for a in view["assignments"] if a["service_type"] == "mdt_huddle")

    escalated = eventually(
        lambda: about(stack, "referral.escalated", ward["assignment_id"]),
        timeout=SLA_SECONDS * 2 + 45,
        what="the virtual ward's breach on referral.escalated",
    )
    reason = escalated[0]["reason"]
    assert reason.startswith(
        "Purbeck virtual ward (virtual ward): not acted on in time (due "
    )
    assert reason.endswith("; the health and social care coordinator has been told")
    assert escalated[0]["notify"] == ["RJ6", "hub-coordinator-purbeck"]

    heard = eventually(
        lambda: about(stack, "practice.RJ6.feedback", ward["assignment_id"]),
        timeout=45,
        what="the referrer to hear of the breach",
    )
    assert heard[0]["message"] == (
        "Purbeck virtual ward (virtual ward) has not responded within the agreed time; the referral has been escalated."
    )
