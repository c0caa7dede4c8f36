"""``make demo``: submit a referral and print its audit trail.

Uses the running stack when intake answers on its port; otherwise starts
one for the demo and stops it again afterwards. Exits 0 only when the trail
shows submitted → routed → delivered, a referral is worked to completion with
the practice told, and one nobody picks up is escalated.
"""

import time
from pathlib import Path
from typing import Any

import httpx

from signpost import service_urls
from signpost.settings import get_settings
from toolbox import local_stack

DATA = Path(__file__).resolve().parent.parent / "tests" / "support" / "data"
REFERRAL = DATA / "pharmacy_first_referral.json"
BARS_BUNDLE = DATA / "bars_servicerequest_bundle.json"
EXPECTED = ("referral.submitted", "referral.routed", "assignment.delivered")


def http() -> httpx.Client:
    """A client for the local stack's HTTPS, trusting its CA."""
    return httpx.Client(verify=service_urls.verify(get_settings()), timeout=10)


def _trail(
    audit_url: str, referral_id: str, timeout: float = 30.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        from toolbox.tokens import dev_token

        operations = {"Authorization": f"Bearer {dev_token('operations')}"}
        with http() as client:
            response = client.get(
                f"{audit_url}/v1/referrals/{referral_id}/audit", headers=operations
            )
        if response.status_code == 200:
            events = response.json()["events"]
            if all(t in [e["event_type"] for e in events] for t in EXPECTED):
                return events
        time.sleep(0.3)
    return events


def submit_and_show(intake_url: str, audit_url: str) -> bool:
    """One JSON referral and one BaRS (FHIR) referral, each followed to delivery in the audit trail."""
    from toolbox.tokens import dev_token

    auth = {"Authorization": f"Bearer {dev_token('gp-h81001')}"}
    client = http()
    response = client.post(
        f"{intake_url}/v1/referrals",
        content=REFERRAL.read_bytes(),
        headers={**auth, "Content-Type": "application/json"},
    )
    print(f"POST /v1/referrals -> {response.status_code} {response.text}")
    if response.status_code != 202:
        return False
    ok = _show(audit_url, response.json()["referral_id"])
    response = client.post(
        f"{intake_url}/v1/fhir/$process-message",
        content=BARS_BUNDLE.read_bytes(),
        headers={**auth, "Content-Type": "application/fhir+json"},
    )
    print(
        f"\nPOST /v1/fhir/$process-message (BaRS servicerequest-request) -> {response.status_code} {response.text}"
    )
    if response.status_code != 202:
        return False
    return (
        _show(
            audit_url,
            response.json()["issue"][0]["diagnostics"].removeprefix("referral_id="),
        )
        and ok
    )


def _show(audit_url: str, referral_id: str) -> bool:
    events = _trail(audit_url, referral_id)
    print(f"\naudit trail of referral {referral_id}:")
    for e in events:
        print(
            f"  #{e['seq']:<5} {e['recorded_at']}  {e['event_type']:<22} on {e['topic']}"
        )
    # Audit follows many topics at once, so it may record a delivery a moment before the routing that caused it;
    # the story is told in the order things happened.
    in_order = sorted(events, key=lambda e: (e["occurred_at"], e["seq"]))
    flow = [e["event_type"] for e in in_order if e["event_type"] in EXPECTED]
    ok = flow == list(EXPECTED)
    print(
        "\n"
        + (
            "trail complete: submitted -> routed -> delivered"
            if ok
            else f"trail incomplete: {flow}"
        )
    )
    return ok


# A stack the demo starts itself has SLA timers seconds apart, so a breach can be watched.
DEMO_ENV = {"SIGNPOST_SLA_DEMO_SECONDS": "5", "SIGNPOST_SLA_CHECK_INTERVAL_S": "0.5"}


def main() -> int:
    from toolbox.demo_feedback import escalated_when_nobody_acts, worked_to_completion

    with local_stack.existing_or_started(extra_env=DEMO_ENV) as (
        urls,
        bootstrap,
        database_url,
    ):
        kafka = local_stack.kafka_admin()
        ok = submit_and_show(urls["intake"], urls["audit"])
        ok = (
            worked_to_completion(urls["intake"], urls["notifier"], bootstrap, kafka)
            is not None
            and ok
        )
        ok = (
            escalated_when_nobody_acts(
                urls["intake"], urls["notifier"], bootstrap, kafka
            )
            and ok
        )
        return 0 if report_audit(urls["audit"], database_url) and ok else 1


def report_audit(audit_url: str, database_url: str) -> bool:
    """Where operations staff watch, and whether the audit chain verifies."""
    import asyncio

    from services.audit.store.chains import verify

    print(
        f"\noperations page: {audit_url}/ops (sign in with `signpost tokens mint --client operations`)"
    )
    result = asyncio.run(verify(database_url))
    print(f"signpost audit verify: {result.summary}")
    return result.ok
