"""A referral flows intake → router → notifier → audit through separate processes."""

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.running_stack import audit_trail, bearer, eventually, log_text
from toolbox.stack import SERVICES, Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)


def submit(stack: Stack, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body,
        headers={**bearer(), **headers},
        timeout=10,
    )


def test_every_service_reports_ready(shared_stack: Stack) -> None:
    for service in SERVICES:
        body = httpx.get(f"{shared_stack.url(service)}/readyz", timeout=5).json()
        assert body["ready"] is True, body
        assert body["checks"] == {"database": "ok", "kafka": "ok"}


def delivered(stack: Stack, referral_id: str) -> list[dict[str, object]]:
    """The trail once audit holds the delivery. Not a count of rows: reading the trail adds access rows to it."""
    trail = audit_trail(stack, referral_id)
    return (
        trail if any(e["event_type"] == "assignment.delivered" for e in trail) else []
    )


@pytest.mark.hazard("HAZ-020")
def test_referral_trail_shows_submitted_routed_delivered_in_order(
    shared_stack: Stack,
) -> None:
    correlation_id = f"e2e-{uuid.uuid4()}"
    response = submit(shared_stack, REFERRAL, **{"X-Correlation-Id": correlation_id})
    assert response.status_code == 202, response.text
    referral_id = response.json()["referral_id"]

    wanted = ["referral.submitted", "referral.routed", "assignment.delivered"]
    trail = eventually(
        lambda: (
            (t := audit_trail(shared_stack, referral_id))
            and all(w in [e["event_type"] for e in t] for w in wanted)
            and t
        ),
        what="submitted, routed and delivered in the audit trail",
    )
    flow = [e for e in trail if e["event_type"] != "access.recorded"]
    # Audit records each topic as it reads it, so when it is behind, seq order across topics need not be causal
    # order; the time each event happened is.
    happened = [e["event_type"] for e in sorted(flow, key=lambda e: e["occurred_at"])]
    assert [t for t in happened if t in wanted] == wanted, [
        (e["event_type"], e["occurred_at"]) for e in flow
    ]
    assert all(e["correlation_id"] == correlation_id for e in flow), (
        "one correlation id end to end"
    )
    trace_ids = {e["trace_id"] for e in flow}
    assert len(trace_ids) == 1, f"one referral should be one trace, saw {trace_ids}"
    assert None not in trace_ids
    assert [e["seq"] for e in trail] == sorted(e["seq"] for e in trail)


def test_audit_trail_carries_no_patient_identifiers(shared_stack: Stack) -> None:
    referral_id = submit(shared_stack, REFERRAL).json()["referral_id"]
    trail = eventually(
        lambda: delivered(shared_stack, referral_id),
        what="the referral to be delivered",
    )
    assert trail
    text = json.dumps(audit_trail(shared_stack, referral_id))
    assert REFERRAL["patient"]["nhs_number"] not in text
    assert REFERRAL["patient"]["family_name"] not in text


def test_logs_name_service_referral_and_correlation_but_no_nhs_number(
    shared_stack: Stack,
) -> None:
    correlation_id = f"log-{uuid.uuid4()}"
    referral_id = submit(
        shared_stack, REFERRAL, **{"X-Correlation-Id": correlation_id}
    ).json()["referral_id"]
    eventually(
        lambda: delivered(shared_stack, referral_id),
        what="the referral to be delivered",
    )
    lines = [
        json.loads(line)
        for line in log_text(shared_stack, "router").splitlines()
        if line.startswith("{")
    ]
    routed = [line for line in lines if line.get("referral_id") == referral_id]
    assert routed, "router logged nothing for the referral"
    assert routed[0]["service"] == "router"
    assert routed[0]["correlation_id"] == correlation_id
    for service in SERVICES:
        assert REFERRAL["patient"]["nhs_number"] not in log_text(shared_stack, service)
