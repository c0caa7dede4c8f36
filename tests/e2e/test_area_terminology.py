"""Every area reads in its own words, on the real stack: Dorset's hub says virtual ward, Croydon's network says huddle.

The same referral (two needs, so a complex case) goes once from a Croydon
practice and once from a Dorset one. The router's reasons, the practice's
feedback when the huddle (or virtual ward) accepts, and the weekly report
for the area each read in that area's words (``deploy/areas/``).
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.test_routing_scenarios import professional_referral, routed
from tests.e2e.test_weekly_report import spanning, summed, week_of
from tests.support.kafka_reader import produce, read_all
from tests.support.running_stack import bearer, eventually
from toolbox.stack import Stack

REFERRER = "RJ6"  # the ICN pharmacist's organisation refers in both areas and hears back on practice.RJ6.feedback


def accepted_by_the_huddle(stack: Stack, view: dict[str, Any]) -> dict[str, Any]:
    """The huddle's agency accepts on its own outcomes topic; returns the practice's feedback about it."""
    huddle = next(a for a in view["assignments"] if a["service_type"] == "mdt_huddle")
    report = {
        "event_id": str(uuid.uuid4()),
        "assignment_id": huddle["assignment_id"],
        "outcome": "accepted",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    asyncio.run(
        produce(
            stack.kafka_bootstrap,
            f"agency.{huddle['agency_id']}.outcomes",
            [json.dumps(report).encode()],
        )
    )

    def heard() -> dict[str, Any] | None:
        for record in asyncio.run(
            read_all(stack.kafka_bootstrap, f"practice.{REFERRER}.feedback")
        ):
            if (
                record.get("assignment_id") == huddle["assignment_id"]
                and record.get("status") == "accepted"
            ):
                return record
        return None

    found: dict[str, Any] = eventually(
        heard, timeout=45, what="the referrer to hear that the huddle accepted"
    )
    return found


def reasons(view: dict[str, Any]) -> dict[str, str]:
    return {a["service_type"]: a["reason"] for a in view["assignments"]}


@pytest.mark.hazard("HAZ-004")
def test_a_dorset_referral_reads_hub_virtual_ward_and_coordinator_and_a_croydon_one_network_and_huddle(
    shared_stack: Stack,
) -> None:
    dorset = routed(
        shared_stack,
        professional_referral(["home_heating", "loneliness"], practice="J81001"),
    )
    croydon = routed(
        shared_stack,
        professional_referral(["home_heating", "loneliness"], practice="H81001"),
    )

    assert reasons(dorset) == {
        "care_coordinator": "the health and social care coordinator:"
        " every request in this hub passes through its health and social care coordinator",
        "mdt_huddle": "complex case (2 agencies): for the virtual ward to discuss",
    }
    assert (
        reasons(croydon)["mdt_huddle"]
        == "complex case (2 agencies): for the MDT huddle to discuss"
    )
    assert "virtual ward" not in json.dumps(croydon)
    assert "hub" not in reasons(croydon)["mdt_huddle"]

    assert accepted_by_the_huddle(shared_stack, dorset)["message"] == (
        "Purbeck virtual ward (virtual ward) accepted the referral."
    )
    assert accepted_by_the_huddle(shared_stack, croydon)["message"] == (
        "MDT huddle, croydon-north (MDT huddle) accepted the referral."
    )


def weekly(stack: Stack, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{stack.url('audit')}/v1/reports/weekly",
        params=params,
        headers=bearer("operations"),
        timeout=10,
    )


def test_the_weekly_report_for_dorset_counts_its_hub_only_in_its_own_words(
    shared_stack: Stack,
) -> None:
    # On the shared stack other modules' referrals count too: this test asks only what they cannot change (which
    # networks an area's report holds, its words) and about the weeks its own referrals were submitted in.
    dorset = routed(
        shared_stack, professional_referral(["falls", "mobility"], practice="J81002")
    )
    croydon = routed(shared_stack, professional_referral(["falls"], practice="H81001"))
    dorset_week = week_of(shared_stack, dorset["referral_id"])

    def dorset_report() -> dict[str, Any] | None:
        body: dict[str, Any] = weekly(
            shared_stack, area="dorset", **spanning(dorset_week)
        ).json()
        return body if body["weeks"][-1]["assignments"] >= 2 else None

    body = eventually(
        dorset_report, what="the Dorset report to count the Dorset referral"
    )
    assert set(body["weeks"][-1]["by_network"]) == {"dorset-purbeck-hub"}, (
        "Croydon's assignments are not Dorset's"
    )
    assert body["area"] == "dorset"
    charts = body["charts"]
    assert charts["network"]["title"] == "Assignments by hub"
    labels = {s["name"]: s["label"] for s in charts["service_type"]["series"]}
    # Another module's Dorset referral may add a service type; these two are this test's own and read Dorset's way.
    assert {k: labels[k] for k in ("care_coordinator", "mdt_huddle")} == {
        "care_coordinator": "health and social care coordinator",
        "mdt_huddle": "virtual ward",
    }

    everywhere = weekly(
        shared_stack,
        **spanning(dorset_week, week_of(shared_stack, croydon["referral_id"])),
    ).json()
    assert everywhere["charts"]["network"]["title"] == "Assignments by network"
    assert {"dorset-purbeck-hub", "croydon-north"} <= set(
        summed(everywhere["weeks"], "by_network")
    )

    unknown = weekly(shared_stack, area="atlantis")
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "no area 'atlantis' (areas: croydon, dorset)"
