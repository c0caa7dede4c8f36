"""The feedback loop in ``make demo``: one referral worked to completion, one nobody picks up.

The first is accepted, contacted and completed by the demo pharmacy through
the notifier's outcomes API, and the referring practice hears each step on
its own topic. The second is left alone until its SLA timers fire (shortened
when the demo starts its own stack) and the practice and the network's
coordinator are told.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from toolbox.demo import http
from toolbox.tokens import dev_token
from toolbox.topic_reader import read_all

REFERRAL = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "support"
    / "data"
    / "pharmacy_first_referral.json"
)
PRACTICE_TOPIC = "practice.H81001.feedback"
AGENCY = "agency-demo-pharmacy"
T = TypeVar("T")


def _auth(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(client)}"}


def _wait(
    check: Callable[[], T | None], timeout: float, interval: float = 0.5
) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    return None


def _submit(intake: str) -> str | None:
    response = http().post(
        f"{intake}/v1/referrals",
        content=REFERRAL.read_bytes(),
        headers={**_auth("gp-h81001"), "Content-Type": "application/json"},
    )
    return str(response.json()["referral_id"]) if response.status_code == 202 else None


def _delivered(intake: str, notifier: str, referral_id: str) -> dict[str, Any] | None:
    """The notifier's view of the referral's assignment to the demo pharmacy, once delivered."""

    def check() -> dict[str, Any] | None:
        client = http()
        view = client.get(
            f"{intake}/v1/referrals/{referral_id}", headers=_auth("gp-h81001")
        ).json()
        for a in view.get("assignments", []):
            response = client.get(
                f"{notifier}/v1/assignments/{a['assignment_id']}", headers=_auth(AGENCY)
            )
            if response.status_code == 200:
                found: dict[str, Any] = response.json()
                return found
        return None

    return _wait(check, 30)


def _feedback(
    bootstrap: str, referral_id: str, kafka: dict[str, Any]
) -> list[dict[str, Any]]:
    """The practice's feedback on this referral, read from its topic (``kafka``: the reader's Kafka security)."""
    return [
        f
        for f in asyncio.run(read_all(bootstrap, PRACTICE_TOPIC, **kafka))
        if f.get("referral_id") == referral_id
    ]


def worked_to_completion(
    intake: str, notifier: str, bootstrap: str, kafka: dict[str, Any] | None = None
) -> str | None:
    """The referral's id once the practice has heard it completed; None if any step failed."""
    referral_id = _submit(intake)
    assignment = _delivered(intake, notifier, referral_id) if referral_id else None
    if referral_id is None or assignment is None:
        print("feedback loop: the referral was not accepted and delivered")
        return None
    print(
        f"\nfeedback loop: referral {referral_id} delivered to {assignment['agency_id']}; the pharmacy reports:"
    )
    url = f"{notifier}/v1/assignments/{assignment['assignment_id']}/outcomes"
    for report in (
        {"outcome": "accepted"},
        {"outcome": "patient_contacted"},
        {"outcome": "completed", "completion": "medicine_supplied"},
    ):
        response = http().post(url, json=report, headers=_auth(AGENCY))
        print(
            f"  POST .../outcomes {report} -> {response.status_code} {response.json().get('state')}"
        )
        if response.status_code != 201:
            return None
    heard = _wait(
        lambda: (
            (f := _feedback(bootstrap, referral_id, kafka or {}))
            and f[-1]["status"] == "completed"
            and f
        ),
        30,
    )
    print(f"the practice's topic {PRACTICE_TOPIC} says:")
    for item in heard or []:
        print(f"  [{item['status']}] {item['message']}")
    return referral_id if heard else None


def escalated_when_nobody_acts(
    intake: str, notifier: str, bootstrap: str, kafka: dict[str, Any] | None = None
) -> bool:
    referral_id = _submit(intake)
    assignment = _delivered(intake, notifier, referral_id) if referral_id else None
    if referral_id is None or assignment is None:
        print("escalation: the referral was not accepted and delivered")
        return False
    last_due = max(datetime.fromisoformat(t["due_at"]) for t in assignment["timers"])
    wait = last_due - datetime.now(UTC)
    if wait > timedelta(minutes=2):
        print(
            f"\nescalation: skipped; this stack runs the real SLA timers (next due {last_due:%Y-%m-%d %H:%M} UTC)."
        )
        print(
            "  Stop it and run `make demo` alone to watch a breach with the demo's shortened timers."
        )
        return True
    print(
        f"\nescalation: referral {referral_id} is left alone; its timers fall due within {wait.total_seconds():.0f} s"
    )
    heard = _wait(
        lambda: (
            (f := _feedback(bootstrap, referral_id, kafka or {}))
            and f[-1]["status"] == "closed_no_contact"
            and f
        ),
        wait.total_seconds() + 30,
    )
    for item in heard or []:
        print(f"  [{item['status']}] {item['message']}")
    return bool(heard)
