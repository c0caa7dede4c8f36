"""Routing scenarios end to end: submitted over HTTP, decided by the router, delivered by the notifier, audited."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.running_stack import audit_trail, bearer, eventually
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
RULES_FILE = (
    Path(__file__).parents[2] / "services" / "router" / "rules" / "default.yaml"
)
PHARMACIST = "icn-pharmacist-rj6"  # organisation RJ6


def professional_referral(
    needs: list[str], flags: list[str] | None = None, practice: str = "H81001"
) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(REFERRAL))
    body["referrer"] = {
        "ods_code": "RJ6",
        "practitioner": "ICN pharmacist B",
        "role": "pharmacist",
    }
    body["patient"]["gp_practice_ods"] = practice
    body["needs"], body["red_flags"] = needs, flags or []
    del body["chosen_pharmacy_ods"]
    return body


def routed(
    stack: Stack, body: dict[str, Any], client: str = PHARMACIST
) -> dict[str, Any]:
    """Submit, wait until intake knows the outcome and audit holds every delivery, and return intake's view."""
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body,
        headers=bearer(client),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return settled(stack, response.json()["referral_id"], client)


def settled(stack: Stack, referral_id: str, client: str = PHARMACIST) -> dict[str, Any]:
    """Intake's view of a submitted referral once it is routed and audit holds every delivery (or it is unroutable)."""

    def done() -> dict[str, Any] | None:
        view: dict[str, Any] = httpx.get(
            f"{stack.url('intake')}/v1/referrals/{referral_id}",
            headers=bearer(client),
            timeout=10,
        ).json()
        delivered = sum(
            e["event_type"] == "assignment.delivered"
            for e in audit_trail(stack, referral_id)
        )
        if view["status"] == "unroutable" or (
            view["assignments"] and delivered == len(view["assignments"])
        ):
            return view
        return None

    result: dict[str, Any] = eventually(
        done,
        timeout=45,
        what="the referral to be routed and every assignment delivered",
    )
    return result


def kinds(view: dict[str, Any]) -> list[str]:
    return sorted(a["service_type"] for a in view["assignments"])


@pytest.mark.hazard("HAZ-004")
def test_a_home_visit_finding_broken_heating_and_loneliness_reaches_social_services_pic_and_the_huddle(
    signpost_stack: Stack,
) -> None:
    view = routed(signpost_stack, professional_referral(["home_heating", "loneliness"]))
    assert kinds(view) == ["mdt_huddle", "pic", "social_services"]
    assert {a["agency_id"] for a in view["assignments"]} == {
        "social-services-croydon-north",
        "pic-croydon-north",
        "mdt-huddle-croydon-north",
    }


@pytest.mark.hazard("HAZ-004")
def test_social_services_finding_piles_of_medicines_reaches_the_icn_pharmacist(
    signpost_stack: Stack,
) -> None:
    view = routed(
        signpost_stack,
        professional_referral(
            ["social_care_assessment"], ["medicines_stockpile", "expired_medicines"]
        ),
    )
    assert "icn_pharmacist" in kinds(view)
    reason = next(
        a["reason"]
        for a in view["assignments"]
        if a["service_type"] == "icn_pharmacist"
    )
    assert "ICN pharmacist" in reason


def test_a_hospital_discharge_who_cannot_manage_medicines_goes_to_the_icn_pharmacist(
    signpost_stack: Stack,
) -> None:
    view = routed(
        signpost_stack,
        professional_referral(["medicines_optimisation"], practice="H81007"),
    )
    assert [(a["service_type"], a["agency_id"]) for a in view["assignments"]] == [
        ("icn_pharmacist", "icn-pharmacist-croydon-north")
    ]


@pytest.mark.hazard("HAZ-004")
def test_a_dorset_referral_passes_through_the_hub_coordinator(
    signpost_stack: Stack,
) -> None:
    view = routed(
        signpost_stack,
        professional_referral(["falls", "loneliness"], practice="J81002"),
    )
    assert {a["agency_id"] for a in view["assignments"]} == {
        "hub-coordinator-purbeck",
        "virtual-ward-purbeck",
    }


@pytest.mark.hazard("HAZ-004")
def test_a_patient_outside_every_network_is_unroutable_with_the_reason(
    signpost_stack: Stack,
) -> None:
    practice = "Y99999"
    view = routed(signpost_stack, professional_referral(["falls"], practice=practice))
    assert view["status"] == "unroutable"
    trail = eventually(
        lambda: [
            e
            for e in audit_trail(signpost_stack, view["referral_id"])
            if e["event_type"] == "referral.unroutable"
        ],
        what="the unroutable event in the audit trail",
    )
    assert f"GP practice {practice} is not in any network" in json.dumps(
        trail[0]["payload"]
    )


def _simulate(stack: Stack, candidate: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGNPOST_DATABASE_URL": stack.database_url}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "toolbox.cli",
            "rules",
            "simulate",
            "--rules",
            str(candidate),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _candidate(tmp_path: Path, without: str) -> Path:
    rules = yaml.safe_load((RULES_FILE).read_text())
    rules["rules"] = [r for r in rules["rules"] if r["id"] != without]
    path = tmp_path / f"without-{without}.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.mark.hazard("HAZ-019")
def test_simulate_shows_changed_decisions_and_passes_when_nothing_becomes_unroutable(
    signpost_stack: Stack, tmp_path: Path
) -> None:
    routed(signpost_stack, professional_referral(["home_heating", "loneliness"]))
    result = _simulate(signpost_stack, _candidate(tmp_path, "loneliness-and-goals"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pic:pic-croydon-north" in result.stdout
    assert "0 would become unroutable" in result.stdout


@pytest.mark.hazard("HAZ-019")
def test_simulate_fails_when_a_candidate_would_leave_a_referral_unroutable(
    signpost_stack: Stack, tmp_path: Path
) -> None:
    routed(signpost_stack, professional_referral(["medicines_optimisation"]))
    result = _simulate(signpost_stack, _candidate(tmp_path, "medicines-red-flags"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "-> UNROUTABLE" in result.stdout
    assert re.search(
        r"^HAZ-019: refused: this rule set would leave [1-9]\d* referrals unroutable$",
        result.stdout,
        re.M,
    )


def test_simulate_decides_with_the_live_directory_the_router_uses_statuses_included(
    signpost_stack: Stack, tmp_path: Path
) -> None:
    social = "social-services-croydon-north"
    referral_id = routed(
        signpost_stack, professional_referral(["home_heating", "loneliness"])
    )["referral_id"]
    status = f"{signpost_stack.url('router')}/v1/directory/services/{social}/status"
    assert (
        httpx.put(
            status, json={"accepting": False}, headers=bearer("operations"), timeout=10
        ).status_code
        == 200
    )
    try:
        # Without the loneliness rule only social services is left for this referral, and live it is not accepting.
        # With the seed files' directory it would be, and nothing would become unroutable.
        result = _simulate(signpost_stack, _candidate(tmp_path, "loneliness-and-goals"))
    finally:
        httpx.put(
            status, json={"accepting": True}, headers=bearer("operations"), timeout=10
        )
    assert "directory: live, from PostgreSQL" in result.stdout
    assert result.returncode == 1, result.stdout + result.stderr
    changed = next(
        line for line in result.stdout.splitlines() if line.startswith(referral_id)
    )
    assert changed.startswith(f"{referral_id}: pic:pic-croydon-north -> UNROUTABLE"), (
        changed
    )
