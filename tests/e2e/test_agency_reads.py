"""A hostile agency reads intake over HTTP with its own token: it sees its own minimised case, and only while it is open.

One home-visit referral goes to three agencies: the patient's chosen pharmacy
(a sore throat), social services (the heating) and the network's MDT huddle
(a safeguarding flag). The two agencies with clients in the dev registry read
it back and try to see more than their part.
"""

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.kafka_reader import read_all
from tests.support.running_stack import audit_trail, bearer, eventually
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
PHARMACY, PHARMACY_CLIENT = "demo-pharmacy", "agency-demo-pharmacy"
SOCIAL, SOCIAL_CLIENT = (
    "social-services-croydon-north",
    "agency-social-services-croydon-north",
)
NOTE = "Daughter says he hides tablets under the sink; key safe code 4411"
CANCEL_REASON = "Patient admitted to Croydon University Hospital overnight"


def home_visit() -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(REFERRAL)
    body.update(
        needs=["sore_throat", "home_heating"],
        red_flags=["medicines_stockpile", "safeguarding"],
        notes=NOTE,
    )
    return body


def submit(stack: Stack, body: dict[str, Any]) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body,
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def read(stack: Stack, referral_id: str, client: str) -> httpx.Response:
    return httpx.get(
        f"{stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer(client),
        timeout=10,
    )


def cancel(stack: Stack, referral_id: str, client: str) -> httpx.Response:
    url = f"{stack.url('intake')}/v1/referrals/{referral_id}/cancel"
    return httpx.post(
        url, json={"reason": CANCEL_REASON}, headers=bearer(client), timeout=10
    )


def assignments_known(
    stack: Stack, referral_id: str, agencies: set[str]
) -> dict[str, dict[str, Any]]:
    """The referrer's view, once intake knows the referral went to each of ``agencies``."""

    def ready() -> dict[str, dict[str, Any]] | None:
        summary = read(stack, referral_id, "gp-h81001").json()
        by_agency = {a["agency_id"]: a for a in summary["assignments"]}
        return by_agency if agencies <= by_agency.keys() else None

    found: dict[str, dict[str, Any]] = eventually(
        ready, timeout=45, what=f"assignments to {sorted(agencies)}"
    )
    return found


def delivered_to(
    stack: Stack, agency: str, referral_id: str, event_type: str
) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        records = asyncio.run(
            read_all(stack.kafka_bootstrap, f"agency.{agency}.referrals")
        )
        return next(
            (
                r
                for r in records
                if r.get("referral_id") == referral_id and r.get("type") == event_type
            ),
            None,
        )

    found: dict[str, Any] = eventually(
        find, timeout=45, what=f"{event_type} on agency.{agency}.referrals"
    )
    return found


def report(
    stack: Stack, assignment_id: str, client: str, outcome: str, **detail: str
) -> httpx.Response:
    return httpx.post(
        f"{stack.url('notifier')}/v1/assignments/{assignment_id}/outcomes",
        json={"outcome": outcome, **detail},
        headers=bearer(client),
        timeout=10,
    )


def wait_for_notifier(stack: Stack, assignment_id: str) -> None:
    def held() -> bool:
        url = f"{stack.url('notifier')}/v1/assignments/{assignment_id}"
        return (
            httpx.get(url, headers=bearer("operations"), timeout=10).status_code == 200
        )

    eventually(held, timeout=45, what="the notifier to hold the assignment")


@pytest.mark.hazard("HAZ-014")
def test_each_agency_sees_exactly_its_own_minimised_case_and_nothing_once_it_declined(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack, home_visit())
    everyone = assignments_known(shared_stack, referral_id, {PHARMACY, SOCIAL})
    assert len(everyone) >= 3, (
        "the safeguarding flag puts the patient on the huddle's agenda too"
    )

    pharmacy_response = read(shared_stack, referral_id, PHARMACY_CLIENT)
    social_response = read(shared_stack, referral_id, SOCIAL_CLIENT)
    assert (pharmacy_response.status_code, social_response.status_code) == (200, 200)
    pharmacy, social = pharmacy_response.json(), social_response.json()

    # Nothing of the referral's history and nothing about who else holds it.
    for view, own, client in (
        (pharmacy, PHARMACY, PHARMACY_CLIENT),
        (social, SOCIAL, SOCIAL_CLIENT),
    ):
        assert set(view) == {"referral_id", "assignments"}, (
            f"{client} sees more than its case: {sorted(view)}"
        )
        assert [a["assignment_id"] for a in view["assignments"]] == [
            everyone[own]["assignment_id"]
        ]
        raw = json.dumps(view)
        for other, assignment in everyone.items():
            if other != own:
                assert other not in raw, (
                    f"{client} sees that {other} holds the referral"
                )
                assert assignment["assignment_id"] not in raw, (
                    f"{client} sees {other}'s assignment"
                )
        assert NOTE not in raw, (
            f"{client} is asked to meet only part of the referral; the notes may be about the rest"
        )

    (pharmacy_part,) = pharmacy["assignments"]
    (social_part,) = social["assignments"]
    assert pharmacy_part["case"]["needs"] == ["sore_throat"]
    assert set(pharmacy_part["case"]["red_flags"]) == {
        "medicines_stockpile",
        "safeguarding",
    }
    assert pharmacy_part["case"]["chosen_pharmacy_ods"] == "FA001"
    assert social_part["case"]["needs"] == ["home_heating"]
    assert social_part["case"]["red_flags"] == ["safeguarding"], (
        "a medicines stockpile is not social services' business"
    )
    assert social_part["case"]["chosen_pharmacy_ods"] is None
    assert "consent_direct_care" not in social_part["case"]
    assert (
        social_part["case"]["patient"]["nhs_number"]
        == REFERRAL["patient"]["nhs_number"]
    ), "it must reach the patient"

    # Over HTTP the agency sees what the notifier sent it on Kafka, field for field.
    on_kafka = delivered_to(shared_stack, SOCIAL, referral_id, "agency.referral")
    assert social_part["case"] == on_kafka["referral"]
    assert NOTE not in json.dumps(on_kafka)

    # The pharmacy declines; from then on it is a stranger to the referral.
    wait_for_notifier(shared_stack, pharmacy_part["assignment_id"])
    declined = report(
        shared_stack,
        pharmacy_part["assignment_id"],
        PHARMACY_CLIENT,
        "declined",
        decline_reason="not_available_in_timescale",
    )
    assert declined.status_code == 201, declined.text
    after = eventually(
        lambda: (
            (r := read(shared_stack, referral_id, PHARMACY_CLIENT)).status_code == 404
            and r
        ),
        what="the declined pharmacy to lose sight of the referral",
    )
    stranger = read(
        shared_stack, "00000000-0000-4000-8000-000000000000", PHARMACY_CLIENT
    )
    assert (after.status_code, after.json()) == (
        stranger.status_code,
        stranger.json(),
    ), "a decliner is a stranger"
    assert cancel(shared_stack, referral_id, PHARMACY_CLIENT).status_code == 404, (
        "to the cancel endpoint too"
    )

    # The referrer and operations keep the whole view.
    full = read(shared_stack, referral_id, "operations").json()
    assert full["versions"][0]["referral"]["notes"] == NOTE
    assert {PHARMACY, SOCIAL} <= {a["agency_id"] for a in full["assignments"]}

    # Every read is on the record, granted or refused.
    def reads_recorded() -> list[dict[str, Any]] | None:
        reads = [
            e["payload"]
            for e in audit_trail(shared_stack, referral_id)
            if e["event_type"] == "access.recorded"
            and e["payload"]["function"] == "read referral"
        ]
        seen = {(r["client_id"], r["outcome"]) for r in reads}
        wanted = {
            (PHARMACY_CLIENT, "granted"),
            (SOCIAL_CLIENT, "granted"),
            (PHARMACY_CLIENT, "refused"),
        }
        return reads if wanted <= seen else None

    eventually(reads_recorded, what="granted and refused reads on the audit trail")


@pytest.mark.hazard("HAZ-014")
def test_an_agency_never_assigned_gets_the_same_404_as_for_no_referral(
    shared_stack: Stack,
) -> None:
    referral_id = submit(
        shared_stack, REFERRAL
    )  # a sore throat: the chosen pharmacy only
    assignments_known(shared_stack, referral_id, {PHARMACY})
    assert read(shared_stack, referral_id, PHARMACY_CLIENT).status_code == 200
    refused = read(shared_stack, referral_id, SOCIAL_CLIENT)
    missing = read(shared_stack, "00000000-0000-4000-8000-000000000000", SOCIAL_CLIENT)
    assert refused.status_code == 404
    assert refused.json() == missing.json()


@pytest.mark.hazard("HAZ-014")
def test_after_a_cancel_no_agency_reads_the_referral_and_none_hears_why(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack, home_visit())
    everyone = assignments_known(shared_stack, referral_id, {PHARMACY, SOCIAL})
    assert read(shared_stack, referral_id, SOCIAL_CLIENT).status_code == 200
    wait_for_notifier(shared_stack, everyone[SOCIAL]["assignment_id"])
    assert cancel(shared_stack, referral_id, SOCIAL_CLIENT).status_code == 403, (
        "an agency may not cancel the referral"
    )
    cancelled = cancel(shared_stack, referral_id, "gp-h81001")
    assert cancelled.status_code == 202, cancelled.text
    for client in (SOCIAL_CLIENT, PHARMACY_CLIENT):
        assert read(shared_stack, referral_id, client).status_code == 404, (
            f"{client} still reads a cancelled referral"
        )
    # The agency is told on its topic that the referral was cancelled, but not the referrer's reason.
    notice = delivered_to(shared_stack, SOCIAL, referral_id, "referral.cancelled")
    assert CANCEL_REASON not in json.dumps(notice)
    assert read(shared_stack, referral_id, "gp-h81001").json()["status"] == "cancelled"
