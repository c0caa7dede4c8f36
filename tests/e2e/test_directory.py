"""The service directory in PostgreSQL: seeded at first start, changed by load and by status, used by the next decision."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from signpost.stack import Stack
from tests.e2e.test_routing_scenarios import professional_referral, routed
from tests.support.running_stack import bearer, eventually

SEEDS = Path(__file__).parents[2] / "services" / "router" / "directory"
SOCIAL = "social-services-croydon-north"


def signpost(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGNPOST_DATABASE_URL": stack.database_url, "SIGNPOST_KAFKA_BOOTSTRAP": stack.kafka_bootstrap}
    return subprocess.run([sys.executable, "-m", "signpost.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def service(stack: Stack, service_id: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(
        f"{stack.url('router')}/v1/directory/services/{service_id}", headers=bearer("operations"), timeout=10
    ).json()
    return found


def set_status(stack: Stack, service_id: str, client: str, **status: Any) -> httpx.Response:
    url = f"{stack.url('router')}/v1/directory/services/{service_id}/status"
    return httpx.put(url, json=status, headers=bearer(client), timeout=10)


def test_the_seeded_directory_is_in_postgresql_and_listed(signpost_stack: Stack) -> None:
    listed = httpx.get(f"{signpost_stack.url('router')}/v1/directory/services", params={"type": "community_pharmacy"},
                       headers=bearer("gp-h81001"), timeout=10).json()  # fmt: skip
    seeded = [s for f in sorted(SEEDS.glob("*.yaml")) for s in yaml.safe_load(f.read_text())["services"]
              if s["service_type"] == "community_pharmacy"]  # fmt: skip
    assert sorted(s["service_id"] for s in listed["services"]) == sorted(s["service_id"] for s in seeded)
    cli = signpost(signpost_stack, "directory", "list", "--network", "croydon-north", "--type", "social_services")
    assert cli.returncode == 0, cli.stderr
    assert SOCIAL in cli.stdout
    assert "accepting" in cli.stdout


def test_an_agency_that_stops_accepting_gets_no_new_referrals_and_only_it_may_say_so(signpost_stack: Stack) -> None:
    assert set_status(signpost_stack, SOCIAL, "agency-demo-pharmacy", accepting=False).status_code == 403
    assert set_status(signpost_stack, SOCIAL, "gp-h81001", accepting=False).status_code == 403
    assert set_status(signpost_stack, "no-such-service", "operations", accepting=False).status_code == 404
    assert set_status(signpost_stack, SOCIAL, "operations", accepting="perhaps").status_code == 422

    before = routed(signpost_stack, professional_referral(["home_heating"]))
    assert SOCIAL in {a["agency_id"] for a in before["assignments"]}
    paused = set_status(signpost_stack, SOCIAL, "agency-social-services-croydon-north", accepting=False, capacity=0)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status_updated_by"] == "agency-social-services-croydon-north"
    try:
        after = routed(signpost_stack, professional_referral(["home_heating"]))
        assert SOCIAL not in {a["agency_id"] for a in after["assignments"]}, "the next decision sees the status at once"
    finally:
        set_status(signpost_stack, SOCIAL, "operations", accepting=True)
    again = routed(signpost_stack, professional_referral(["home_heating"]))
    assert SOCIAL in {a["agency_id"] for a in again["assignments"]}


def test_a_loaded_seed_is_used_without_a_restart_and_live_status_survives_it(signpost_stack: Stack, tmp_path: Path) -> None:
    assert set_status(signpost_stack, "pic-croydon-north", "operations", accepting=True, capacity=7).status_code == 200
    seed = yaml.safe_load((SEEDS / "croydon.yaml").read_text())
    for s in seed["services"]:
        if s["service_id"] == SOCIAL:
            s["name"] = "Adult social care, Croydon North (renamed)"
    changed = tmp_path / "croydon.yaml"
    changed.write_text(yaml.safe_dump(seed, sort_keys=False))
    (tmp_path / "dorset.yaml").write_text((SEEDS / "dorset.yaml").read_text())

    loaded = signpost(signpost_stack, "directory", "load", str(tmp_path))
    assert loaded.returncode == 0, loaded.stderr
    assert eventually(lambda: service(signpost_stack, SOCIAL)["name"].endswith("(renamed)"), what="the router to use the load")
    assert service(signpost_stack, "pic-croydon-north")["capacity"] == 7, "a reload keeps what the service reported"
    restored = signpost(signpost_stack, "directory", "load", str(SEEDS))
    assert restored.returncode == 0, restored.stderr


def test_validate_names_what_is_wrong_with_a_seed(tmp_path: Path, signpost_stack: Stack) -> None:
    good = signpost(signpost_stack, "directory", "validate", str(SEEDS / "dorset.yaml"))
    assert good.returncode == 0
    assert "valid" in good.stdout
    seed = yaml.safe_load((SEEDS / "dorset.yaml").read_text())
    seed["services"][0]["network_ids"] = ["atlantis"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(seed))
    refused = signpost(signpost_stack, "directory", "validate", str(bad))
    assert refused.returncode == 1
    assert "network atlantis is not in the directory" in refused.stderr
