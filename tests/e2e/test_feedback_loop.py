"""The feedback loop end to end: agencies report outcomes, the practice hears, declines reroute, silence escalates.

One stack whose SLA timers are shortened (as for the demo) so a breach can be
watched: each assignment's timers fall due ``SLA_SECONDS`` apart. The
referrals nobody is to act on are submitted before the first test
(``left_alone``), so their timers run out while the other tests run.
"""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_routing_scenarios import PHARMACIST, professional_referral, settled
from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import produce, read_all
from tests.support.running_stack import bearer, eventually, running
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
PHARMACY = "agency-demo-pharmacy"  # agency demo-pharmacy, FA001, open around the clock
SOCIAL = "agency-social-services-croydon-north"
SLA_SECONDS = 8


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    env = {
        "SIGNPOST_SLA_DEMO_SECONDS": str(SLA_SECONDS),
        "SIGNPOST_SLA_CHECK_INTERVAL_S": "0.5",
    }
    with running(infrastructure, "e2e_feedback_loop", extra_env=env) as s:
        yield s


@pytest.fixture(scope="module", autouse=True)
def left_alone(stack: Stack) -> dict[str, str]:
    """Referrals nobody acts on, by what each is for: submitted first, so the tests that watch them escalate wait less.

    A GP's Pharmacy First referral, and a Dorset complex case whose virtual ward is left alone.
    """
    return {
        "pharmacy": submit(stack),
        "virtual_ward": submit(
            stack,
            professional_referral(["home_heating", "loneliness"], practice="J81001"),
            client=PHARMACIST,
        ),
    }


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


def view(stack: Stack, referral_id: str, client: str = "gp-h81001") -> dict[str, Any]:
    response = httpx.get(
        f"{stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer(client),
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    return body


def assignment(
    stack: Stack, assignment_id: str, client: str = "operations"
) -> httpx.Response:
    return httpx.get(
        f"{stack.url('notifier')}/v1/assignments/{assignment_id}",
        headers=bearer(client),
        timeout=10,
    )


def delivered(
    stack: Stack,
    referral_id: str,
    agency: str = "demo-pharmacy",
    client: str = "gp-h81001",
) -> str:
    """The referral's assignment for ``agency``, once the notifier holds it (so outcomes can be reported)."""

    def ready() -> str | None:
        for a in view(stack, referral_id, client)["assignments"]:
            if (
                a["agency_id"] == agency
                and assignment(stack, a["assignment_id"]).status_code == 200
            ):
                return str(a["assignment_id"])
        return None

    found: str = eventually(
        ready, timeout=45, what=f"an assignment to {agency} to be delivered"
    )
    return found


def report(
    stack: Stack,
    assignment_id: str,
    outcome: str,
    client: str = PHARMACY,
    **detail: Any,
) -> httpx.Response:
    return httpx.post(
        f"{stack.url('notifier')}/v1/assignments/{assignment_id}/outcomes",
        json={"outcome": outcome, **detail},
        headers=bearer(client),
        timeout=10,
    )


def feedback(
    stack: Stack, referral_id: str, practice: str = "H81001"
) -> list[dict[str, Any]]:
    records = asyncio.run(
        read_all(stack.kafka_bootstrap, f"practice.{practice}.feedback")
    )
    return [r for r in records if r.get("referral_id") == referral_id]


def on_topic(stack: Stack, topic: str, referral_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in asyncio.run(read_all(stack.kafka_bootstrap, topic))
        if r.get("referral_id") == referral_id
    ]


@pytest.mark.hazard("HAZ-016")
def test_an_agency_accepts_contacts_and_completes_and_the_practice_hears_each_step(
    stack: Stack,
) -> None:
    referral_id = submit(stack)
    assignment_id = delivered(stack, referral_id)
    report_id = str(uuid.uuid4())

    accepted = report(stack, assignment_id, "accepted", report_id=report_id)
    assert (accepted.status_code, accepted.json()["state"]) == (201, "accepted"), (
        accepted.text
    )
    repeat = report(stack, assignment_id, "accepted", report_id=report_id)
    assert (repeat.status_code, repeat.json()["state"]) == (200, "accepted"), (
        "a repeated report id is answered, not re-applied"
    )
    assert report(stack, assignment_id, "patient_contacted").status_code == 201
    done = report(
        stack,
        assignment_id,
        "completed",
        completion="medicine_supplied",
        note="Supplied under the sore throat PGD.",
    )
    assert (done.status_code, done.json()["previous_state"], done.json()["state"]) == (
        201,
        "patient_contacted",
        "completed",
    )

    heard = eventually(
        lambda: (
            (f := feedback(stack, referral_id)) and f[-1]["status"] == "completed" and f
        ),
        what="the completion feedback",
    )
    steps = [f["status"] for f in heard]
    assert steps == ["accepted", "patient_contacted", "completed"], (
        "each step once, in order (the repeat added nothing)"
    )
    summary = heard[-1]["summary"]
    assert summary["completion"] == "medicine_supplied"
    assert summary["contacted_at"]
    assert summary["completed_at"]
    assert "completed the referral: medicine supplied" in heard[-1]["message"]
    assert eventually(
        lambda: view(stack, referral_id)["status"] == "completed",
        what="intake to show completed",
    )
    history = assignment(stack, assignment_id).json()
    assert [o["outcome"] for o in history["outcomes"]] == [
        "accepted",
        "patient_contacted",
        "completed",
    ]
    assert all(t["cleared_at"] and not t["fired_at"] for t in history["timers"]), (
        "contact and completion stop every timer"
    )


def test_illegal_moves_get_409_with_the_reason_and_change_nothing(stack: Stack) -> None:
    assignment_id = delivered(stack, submit(stack))
    early = report(stack, assignment_id, "completed", completion="advice_given")
    assert early.status_code == 409
    assert (
        early.json()["detail"]
        == "accept the assignment before reporting that it was completed"
    )
    assert report(stack, assignment_id, "accepted").status_code == 201
    late = report(stack, assignment_id, "declined", decline_reason="not_appropriate")
    assert (late.status_code, late.json()["detail"]) == (
        409,
        "cannot decline an assignment that was already accepted",
    )
    report(stack, assignment_id, "completed", completion="advice_given")
    after = report(stack, assignment_id, "patient_contacted")
    assert (after.status_code, after.json()["detail"]) == (
        409,
        "assignment is completed; no further outcomes are accepted",
    )
    assert [
        o["outcome"] for o in assignment(stack, assignment_id).json()["outcomes"]
    ] == ["accepted", "completed"]
    missing_reason = report(stack, assignment_id, "declined")
    assert missing_reason.status_code == 422, "a decline needs its coded reason"


@pytest.mark.hazard("HAZ-015")
def test_an_agency_reports_only_on_its_own_assignments(stack: Stack) -> None:
    assignment_id = delivered(stack, submit(stack))
    other_agency = report(stack, assignment_id, "accepted", client=SOCIAL)
    assert other_agency.status_code == 404, (
        "another agency's assignment is not even shown to exist"
    )
    assert assignment(stack, assignment_id, client=SOCIAL).status_code == 404
    assert (
        report(stack, assignment_id, "accepted", client="gp-h81001").status_code == 403
    )
    assert assignment(stack, assignment_id).json()["state"] == "delivered", (
        "nothing changed"
    )


def test_outcomes_on_the_agency_topic_are_recorded_and_an_illegal_one_is_dead_lettered_with_its_reason(
    stack: Stack,
) -> None:
    assignment_id = delivered(stack, submit(stack))

    def outcome(code: str, **detail: Any) -> bytes:
        body = {
            "event_id": str(uuid.uuid4()),
            "assignment_id": assignment_id,
            "outcome": code,
            "occurred_at": datetime.now(UTC).isoformat(),
            **detail,
        }
        return json.dumps(body).encode()

    illegal = outcome("declined", decline_reason="other")
    asyncio.run(
        produce(
            stack.kafka_bootstrap,
            "agency.demo-pharmacy.outcomes",
            [outcome("accepted"), illegal],
        )
    )
    assert eventually(
        lambda: assignment(stack, assignment_id).json()["state"] == "accepted",
        what="the topic's acceptance",
    )
    illegal_id = json.loads(illegal)["event_id"]

    def dead_lettered() -> dict[str, Any] | None:
        for record in asyncio.run(
            read_all(stack.kafka_bootstrap, "signpost.deadletter")
        ):
            by_notifier = record.get("consumer") == "signpost-notifier-outcomes"
            if by_notifier and illegal_id.encode() in _payload(record):
                return record
        return None

    letter = eventually(
        dead_lettered, what="the illegal decline on the dead-letter topic"
    )
    assert "cannot decline an assignment that was already accepted" in letter["reason"]
    assert assignment(stack, assignment_id).json()["state"] == "accepted"
    # The dead-letter topic is shared by the whole test session: look only at this test's reports.
    ours = [
        r
        for r in asyncio.run(read_all(stack.kafka_bootstrap, "signpost.deadletter"))
        if r.get("consumer") == "signpost-audit"
        and assignment_id.encode() in _payload(r)
    ]
    assert ours == [], "audit records an agency's report even without a type field"


def _payload(record: dict[str, Any]) -> bytes:
    import base64

    # A letter for an oversized record (another test's) carries its digest, not its bytes.
    return base64.b64decode(record.get("payload_base64") or "")


# Rerouting asks who is open when the decline happened, so the tests say when that was.
WEDNESDAY_MORNING = "2026-11-18T11:00:00+00:00"
WEDNESDAY_NIGHT = "2026-11-18T03:00:00+00:00"


@pytest.mark.hazard("HAZ-010", "HAZ-016")
def test_a_decline_is_rerouted_never_back_to_a_decliner_and_then_to_the_coordinator(
    stack: Stack,
) -> None:
    referral_id = submit(stack)
    first = delivered(stack, referral_id)
    declined = report(
        stack,
        first,
        "declined",
        decline_reason="not_available_in_timescale",
        occurred_at=WEDNESDAY_MORNING,
    )
    assert declined.status_code == 201

    def replacement_of(assignment_id: str) -> dict[str, Any] | None:
        return next(
            (
                a
                for a in view(stack, referral_id)["assignments"]
                if a["replaces_assignment_id"] == assignment_id
            ),
            None,
        )

    second = eventually(
        lambda: replacement_of(first), what="a reroute after the first decline"
    )
    assert second["service_type"] == "community_pharmacy"
    assert second["agency_id"] != "demo-pharmacy"
    assert "rerouted after a decline" in second["reason"]
    # The second pharmacy declines on its own outcomes topic (its only way in, by broker ACL).
    delivered(stack, referral_id, agency=second["agency_id"])
    decline = {
        "event_id": str(uuid.uuid4()),
        "assignment_id": second["assignment_id"],
        "outcome": "declined",
        "decline_reason": "not_appropriate",
        "occurred_at": WEDNESDAY_MORNING,
    }
    asyncio.run(
        produce(
            stack.kafka_bootstrap,
            f"agency.{second['agency_id']}.outcomes",
            [json.dumps(decline).encode()],
        )
    )

    third = eventually(
        lambda: replacement_of(second["assignment_id"]),
        what="a reroute after the second decline",
    )
    assert third["agency_id"] == "care-coordinator-croydon-north", (
        "after max_declines (2) the network's coordinator takes it"
    )
    agencies = [a["agency_id"] for a in view(stack, referral_id)["assignments"]]
    assert len(agencies) == len(set(agencies)) == 3, (
        "never back to a provider that declined"
    )
    eventually(
        lambda: (
            [f["status"] for f in feedback(stack, referral_id)].count("declined") == 2
        ),
        what="both declines",
    )
    # Each reroute is news to the practice too: who has the referral now.
    rerouted = eventually(
        lambda: (
            [f for f in feedback(stack, referral_id) if f["status"] == "rerouted"]
            if len(
                [f for f in feedback(stack, referral_id) if f["status"] == "rerouted"]
            )
            == 2
            else None
        ),
        what="feedback for both reroutes",
    )
    assert sorted(f["assignment_id"] for f in rerouted) == sorted(
        [second["assignment_id"], third["assignment_id"]]
    )
    assert all(
        f["message"].startswith("After a decline the referral was passed on to ")
        for f in rerouted
    )


@pytest.mark.hazard("HAZ-010")
def test_a_decline_at_night_goes_to_the_coordinator_when_no_other_pharmacy_is_open(
    stack: Stack,
) -> None:
    referral_id = submit(stack)
    first = delivered(stack, referral_id)
    assert (
        report(
            stack,
            first,
            "declined",
            decline_reason="other",
            occurred_at=WEDNESDAY_NIGHT,
        ).status_code
        == 201
    )
    replacement = eventually(
        lambda: next(
            (
                a
                for a in view(stack, referral_id)["assignments"]
                if a["replaces_assignment_id"] == first
            ),
            None,
        ),
        what="a reroute after the decline",
    )
    assert replacement["agency_id"] == "care-coordinator-croydon-north"
    assert (
        replacement["reason"]
        == "the network facilitator: no other community pharmacy in network croydon-north"
    )


@pytest.mark.hazard("HAZ-007", "HAZ-008", "HAZ-017")
def test_an_assignment_nobody_picks_up_escalates_then_closes_and_the_gp_and_coordinator_are_told(
    stack: Stack, left_alone: dict[str, str]
) -> None:
    referral_id = left_alone["pharmacy"]
    assignment_id = delivered(stack, referral_id)

    eventually(
        lambda: (
            [f["status"] for f in feedback(stack, referral_id)]
            == ["escalated", "closed_no_contact"]
        ),
        timeout=SLA_SECONDS * 2 + 30,
        what="escalation then closure on the practice's topic",
    )
    escalations = on_topic(stack, "referral.escalated", referral_id)
    assert [e["timer"] for e in escalations] == ["first_contact", "no_contact_close"]
    assert escalations[0]["notify"] == ["H81001", "care-coordinator-croydon-north"]
    (routed,) = on_topic(stack, "referral.routed", referral_id)
    assert (
        routed["services"]["demo-pharmacy"]["coordinator_agency_id"]
        == "care-coordinator-croydon-north"
    ), (
        "the coordinator comes with the routing decision, from the directory the router used"
    )
    to_coordinator = on_topic(
        stack, "agency.care-coordinator-croydon-north.referrals", referral_id
    )
    assert [e["type"] for e in to_coordinator] == [
        "referral.escalated",
        "referral.escalated",
    ]
    state = assignment(stack, assignment_id).json()
    assert state["state"] == "closed_no_contact"
    assert sorted(t["name"] for t in state["timers"] if t["fired_at"]) == [
        "first_contact",
        "no_contact_close",
    ]
    late = report(stack, assignment_id, "accepted")
    assert late.status_code == 409
    assert "not contacted in time" in late.json()["detail"]


@pytest.mark.hazard("HAZ-011")
def test_a_cancelled_referral_stops_its_assignments_and_tells_the_agency(
    stack: Stack,
) -> None:
    referral_id = submit(stack)
    assignment_id = delivered(stack, referral_id)
    cancel = httpx.post(
        f"{stack.url('intake')}/v1/referrals/{referral_id}/cancel",
        json={"reason": "patient recovered"},
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    assert cancel.status_code == 202, cancel.text
    assert eventually(
        lambda: assignment(stack, assignment_id).json()["state"] == "cancelled",
        what="the assignment cancelled",
    )
    notices = on_topic(stack, "agency.demo-pharmacy.referrals", referral_id)
    assert [n["type"] for n in notices] == ["agency.referral", "referral.cancelled"]
    refused = report(stack, assignment_id, "accepted")
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        "assignment was cancelled by the referrer; no further outcomes are accepted",
    )
    assert all(
        t["cleared_at"] for t in assignment(stack, assignment_id).json()["timers"]
    )


def test_the_demo_works_one_referral_to_completion_and_watches_another_escalate(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolbox.demo_feedback import escalated_when_nobody_acts, worked_to_completion

    assert worked_to_completion(
        stack.url("intake"), stack.url("notifier"), stack.kafka_bootstrap
    )
    assert escalated_when_nobody_acts(
        stack.url("intake"), stack.url("notifier"), stack.kafka_bootstrap
    )
    printed = capsys.readouterr().out
    assert (
        "POST .../outcomes {'outcome': 'completed', 'completion': 'medicine_supplied'} -> 201 completed"
        in printed
    )
    assert (
        "[completed] Pharmacy First at FA001 (community pharmacy) completed the referral: medicine supplied."
        in printed
    )
    assert "[escalated]" in printed
    assert "[closed_no_contact]" in printed


@pytest.mark.hazard("HAZ-016")
def test_a_referrer_that_is_not_a_gp_practice_hears_back_on_its_own_topic_and_nothing_waits_behind_it(
    stack: Stack,
) -> None:
    # The home-visit case: an ICN pharmacist at RJ6 (a trust, not a practice) refers the broken heating.
    body = json.loads(json.dumps(REFERRAL))
    body["referrer"] = {
        "ods_code": "RJ6",
        "practitioner": "ICN pharmacist B",
        "role": "pharmacist",
    }
    body["needs"] = ["home_heating"]
    del body["chosen_pharmacy_ods"]
    referral_id = submit(stack, body, client="icn-pharmacist-rj6")
    assignment_id = delivered(
        stack,
        referral_id,
        agency="social-services-croydon-north",
        client="icn-pharmacist-rj6",
    )
    assert report(stack, assignment_id, "accepted", client=SOCIAL).status_code == 201

    heard = eventually(
        lambda: feedback(stack, referral_id, practice="RJ6"),
        what="RJ6 to hear the acceptance",
    )
    assert [(f["practice_ods"], f["status"]) for f in heard] == [("RJ6", "accepted")]
    assert heard[0]["message"].startswith("Adult social care, croydon-north"), (
        "named as the router's directory names it"
    )
    # The notifier's outbox held nothing back, so a GP's referral after it is delivered as usual.
    assert (
        httpx.get(f"{stack.url('notifier')}/readyz", timeout=5).json()["outbox_held"]
        == {}
    )
    delivered(stack, submit(stack))


def about(stack: Stack, topic: str, assignment_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in asyncio.run(read_all(stack.kafka_bootstrap, topic))
        if r.get("assignment_id") == assignment_id
    ]


def test_a_virtual_ward_nobody_acts_on_is_escalated_to_the_hubs_coordinator_in_dorsets_words(
    stack: Stack, left_alone: dict[str, str]
) -> None:
    view = settled(stack, left_alone["virtual_ward"])
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
