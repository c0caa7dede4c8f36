"""The service directory in PostgreSQL: seeded at first start, changed by load and by status, used by the next decision."""

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from services.router.domain import directory as directory_module
from services.router.store import directory as directory_store
from signpost import database
from tests.e2e.test_routing_scenarios import REFERRAL, professional_referral, routed
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import audit_trail, bearer, eventually
from toolbox.stack import Stack

SEEDS = Path(__file__).parents[2] / "services" / "router" / "directory"
MIGRATIONS = Path(__file__).parents[2] / "services" / "router" / "migrations"
SOCIAL = "social-services-croydon-north"
DAY = timedelta(hours=24)
CHOSEN = "demo-pharmacy"  # FA001 in croydon-north, the patient's chosen pharmacy in the Pharmacy First example
ALTERNATIVE = "pharmacy-fa007"  # also croydon-north; the first of its pharmacies by id after the chosen one


def signpost(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SIGNPOST_DATABASE_URL": stack.database_url,
        "SIGNPOST_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
    }
    return subprocess.run(
        [sys.executable, "-m", "toolbox.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def service(stack: Stack, service_id: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(
        f"{stack.url('router')}/v1/directory/services/{service_id}",
        headers=bearer("operations"),
        timeout=10,
    ).json()
    return found


def set_status(
    stack: Stack, service_id: str, client: str, **status: Any
) -> httpx.Response:
    url = f"{stack.url('router')}/v1/directory/services/{service_id}/status"
    return httpx.put(url, json=status, headers=bearer(client), timeout=10)


def test_the_seeded_directory_is_in_postgresql_and_listed(
    signpost_stack: Stack,
) -> None:
    listed = httpx.get(
        f"{signpost_stack.url('router')}/v1/directory/services",
        params={"type": "community_pharmacy"},
        headers=bearer("gp-h81001"),
        timeout=10,
    ).json()
    seeded = [
        s
        for f in sorted(SEEDS.glob("*.yaml"))
        for s in yaml.safe_load(f.read_text())["services"]
        if s["service_type"] == "community_pharmacy"
    ]
    assert sorted(s["service_id"] for s in listed["services"]) == sorted(
        s["service_id"] for s in seeded
    )
    cli = signpost(
        signpost_stack,
        "directory",
        "list",
        "--network",
        "croydon-north",
        "--type",
        "social_services",
    )
    assert cli.returncode == 0, cli.stderr
    header, row, total = cli.stdout.splitlines()
    assert header.split()[:5] == [
        "SERVICE",
        "TYPE",
        "NETWORKS",
        "ACCEPTING",
        "CAPACITY",
    ]
    assert row.split()[:5] == [SOCIAL, "social_services", "croydon-north", "yes", "-"]
    assert f"by seed {SEEDS}" in row, "a fresh router loaded the seeds itself"
    assert total.startswith("1 of ")


@pytest.mark.hazard("HAZ-005")
def test_an_agency_that_stops_accepting_gets_no_new_referrals_and_only_it_may_say_so(
    signpost_stack: Stack,
) -> None:
    assert (
        set_status(
            signpost_stack, SOCIAL, "agency-demo-pharmacy", accepting=False
        ).status_code
        == 403
    )
    assert (
        set_status(signpost_stack, SOCIAL, "gp-h81001", accepting=False).status_code
        == 403
    )
    assert (
        set_status(
            signpost_stack, "no-such-service", "operations", accepting=False
        ).status_code
        == 404
    )
    assert (
        set_status(
            signpost_stack, SOCIAL, "operations", accepting="perhaps"
        ).status_code
        == 422
    )

    before = routed(signpost_stack, professional_referral(["home_heating"]))
    assert SOCIAL in {a["agency_id"] for a in before["assignments"]}
    paused = set_status(
        signpost_stack,
        SOCIAL,
        "agency-social-services-croydon-north",
        accepting=False,
        capacity=0,
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["status_updated_by"] == "agency-social-services-croydon-north"
    try:
        after = routed(signpost_stack, professional_referral(["home_heating"]))
        assert SOCIAL not in {a["agency_id"] for a in after["assignments"]}, (
            "the next decision sees the status at once"
        )
    finally:
        set_status(signpost_stack, SOCIAL, "operations", accepting=True)
    again = routed(signpost_stack, professional_referral(["home_heating"]))
    assert SOCIAL in {a["agency_id"] for a in again["assignments"]}


@pytest.mark.hazard("HAZ-018")
def test_a_reported_status_lapses_so_a_forgotten_not_accepting_does_not_hide_a_service(
    signpost_stack: Stack,
) -> None:
    agency = "agency-social-services-croydon-north"
    now = datetime.now(UTC)
    too_far = set_status(
        signpost_stack,
        SOCIAL,
        agency,
        accepting=False,
        until=(now + timedelta(hours=25)).isoformat(),
    )
    assert (too_far.status_code, too_far.json()["detail"]) == (
        422,
        "until may be at most 24 hours ahead; report the status again then",
    )
    past = set_status(
        signpost_stack,
        SOCIAL,
        agency,
        accepting=False,
        until=(now - timedelta(minutes=1)).isoformat(),
    )
    assert (past.status_code, past.json()["detail"]) == (
        422,
        "until must be in the future",
    )
    assert service(signpost_stack, SOCIAL)["accepting"] is True, (
        "a refused status changes nothing"
    )

    by_default = set_status(signpost_stack, SOCIAL, agency, accepting=False, capacity=0)
    set_at, lapses_at = (
        datetime.fromisoformat(by_default.json()[k])
        for k in ("status_updated_at", "status_expires_at")
    )
    assert lapses_at - set_at == timedelta(hours=24), (
        "without until, a report holds for the default day"
    )
    try:
        short = set_status(
            signpost_stack,
            SOCIAL,
            agency,
            accepting=False,
            capacity=0,
            until=(datetime.now(UTC) + timedelta(seconds=3)).isoformat(),
        )
        assert short.status_code == 200, short.text
        lapsed = eventually(
            lambda: (s := service(signpost_stack, SOCIAL))["status_lapsed"] and s,
            what="the status to lapse",
        )
        assert (lapsed["accepting"], lapsed["accepting_now"]) == (False, True), (
            "as reported, and as routing now goes by"
        )
        after = routed(signpost_stack, professional_referral(["home_heating"]))
        assert SOCIAL in {a["agency_id"] for a in after["assignments"]}, (
            "routing goes back to it without anyone asking"
        )
        listed = signpost(
            signpost_stack,
            "directory",
            "list",
            "--network",
            "croydon-north",
            "--type",
            "social_services",
        )
        assert listed.stdout.splitlines()[1].endswith(f"by {agency} (lapsed)")
    finally:
        set_status(signpost_stack, SOCIAL, "operations", accepting=True)


@pytest.mark.hazard("HAZ-018")
def test_a_loaded_seed_is_routed_with_at_once_and_keeps_the_live_status_it_leaves_alone(
    signpost_stack: Stack, tmp_path: Path
) -> None:
    assert (
        set_status(
            signpost_stack,
            "pic-croydon-north",
            "operations",
            accepting=True,
            capacity=7,
        ).status_code
        == 200
    )
    seed = yaml.safe_load((SEEDS / "croydon.yaml").read_text())
    social = next(s for s in seed["services"] if s["service_id"] == SOCIAL)
    social["name"], social["accepting"] = (
        "Adult social care, Croydon North (closed)",
        False,
    )
    (tmp_path / "croydon.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))
    (tmp_path / "dorset.yaml").write_text((SEEDS / "dorset.yaml").read_text())

    loaded = signpost(signpost_stack, "directory", "load", str(tmp_path))
    assert loaded.returncode == 0, loaded.stderr
    try:
        # No waiting: the load has committed, and the router checks the directory's revision before every batch.
        after = routed(signpost_stack, professional_referral(["home_heating"]))
        assert SOCIAL not in {a["agency_id"] for a in after["assignments"]}, (
            "a seed that closes a service is obeyed"
        )
        shown = service(signpost_stack, SOCIAL)
        assert (shown["name"], shown["accepting"]) == (
            "Adult social care, Croydon North (closed)",
            False,
        )
        assert shown["status_updated_by"] == f"seed {tmp_path}"
        assert service(signpost_stack, "pic-croydon-north")["capacity"] == 7, (
            "a reload keeps what the service reported"
        )
    finally:
        restored = signpost(signpost_stack, "directory", "load", str(SEEDS))
    assert restored.returncode == 0, restored.stderr
    again = routed(signpost_stack, professional_referral(["home_heating"]))
    assert SOCIAL in {a["agency_id"] for a in again["assignments"]}, (
        "the seed that reopens it is obeyed too"
    )


@pytest.mark.hazard("HAZ-019")
def test_validate_names_what_is_wrong_with_a_seed(
    tmp_path: Path, signpost_stack: Stack
) -> None:
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


@pytest.mark.hazard("HAZ-005")
def test_a_pharmacy_that_stops_accepting_sends_the_next_pharmacy_first_referral_to_an_open_one_in_its_network(
    signpost_stack: Stack, tmp_path: Path
) -> None:
    # The alternative opens around the clock for this test, so the outcome does not depend on when the suite runs.
    seed = yaml.safe_load((SEEDS / "croydon.yaml").read_text())
    next(s for s in seed["services"] if s["service_id"] == ALTERNATIVE)["hours"] = (
        "always"
    )
    (tmp_path / "croydon.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))
    (tmp_path / "dorset.yaml").write_text((SEEDS / "dorset.yaml").read_text())
    assert signpost(signpost_stack, "directory", "load", str(tmp_path)).returncode == 0
    assert eventually(
        lambda: service(signpost_stack, ALTERNATIVE)["hours"] == "always",
        what="the router to use the load",
    )
    try:
        before = routed(signpost_stack, REFERRAL, client="gp-h81001")
        assert [a["service_id"] for a in before["assignments"]] == [CHOSEN], (
            "open and accepting, the chosen pharmacy gets it"
        )

        closed = set_status(
            signpost_stack, CHOSEN, "agency-demo-pharmacy", accepting=False, capacity=0
        )
        assert closed.status_code == 200, closed.text
        after = routed(signpost_stack, REFERRAL, client="gp-h81001")
        assert [(a["service_id"], a["service_type"]) for a in after["assignments"]] == [
            (ALTERNATIVE, "community_pharmacy")
        ]
        routed_event = next(
            e
            for e in audit_trail(signpost_stack, after["referral_id"])
            if e["event_type"] == "referral.routed"
        )
        assert "chosen pharmacy FA001 is not accepting" in json.dumps(
            routed_event["payload"]
        )
    finally:
        set_status(signpost_stack, CHOSEN, "operations", accepting=True)
        signpost(signpost_stack, "directory", "load", str(SEEDS))


# The store on its own, against a PostgreSQL database of its own: what a reload keeps and what it changes.


@pytest.fixture
async def store(infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    admin = await asyncpg.connect(infrastructure.database_url)
    try:
        await admin.execute(
            'DROP DATABASE IF EXISTS "e2e_directory_store" WITH (FORCE)'
        )
        await admin.execute('CREATE DATABASE "e2e_directory_store"')
    finally:
        await admin.close()
    url = f"{infrastructure.database_url.rpartition('/')[0]}/e2e_directory_store"
    pool = await database.connect(url, schema="router", max_size=3)
    await database.migrate(pool, "router", MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()


def dorset(**changes: Any) -> directory_module.Directory:
    """The Dorset seed, with fields of its pharmacy changed as a later seed might."""
    seed = yaml.safe_load((SEEDS / "dorset.yaml").read_text())
    pharmacy = next(
        s for s in seed["services"] if s["service_type"] == "community_pharmacy"
    )
    pharmacy.update(changes)
    return directory_module.Directory.model_validate(seed)


async def test_what_is_stored_reads_back_as_the_directory_that_was_loaded(
    store: asyncpg.Pool,
) -> None:
    seeded = directory_module.load(SEEDS)
    async with store.acquire() as conn:
        assert await directory_store.read(conn) is None
        await directory_store.load(conn, seeded, source="seeds")
        stored = await directory_store.read(conn)
    assert stored is not None
    assert (stored.area, stored.version) == (seeded.area, seeded.version)
    assert sorted(stored.organisations, key=lambda o: o.ods_code) == sorted(
        seeded.organisations, key=lambda o: o.ods_code
    )
    assert sorted(stored.networks, key=lambda n: n.network_id) == sorted(
        seeded.networks, key=lambda n: n.network_id
    )
    without_time = {
        "capacity_updated_at"
    }  # stamped when loaded, not taken from the seed
    assert [s.model_dump(exclude=without_time) for s in stored.services] == [
        s.model_dump(exclude=without_time)
        for s in sorted(seeded.services, key=lambda s: s.service_id)
    ]


async def test_a_reload_keeps_live_status_unless_the_seed_changes_it_and_drops_what_it_no_longer_lists(
    store: asyncpg.Pool,
) -> None:
    async with store.acquire() as conn:
        await directory_store.load(conn, dorset(), source="v1")
        pharmacy, coordinator = "pharmacy-fd001", "hub-coordinator-purbeck"
        assert (
            await directory_store.set_status(
                conn, pharmacy, False, 0, by="agency-fd001", lasts=DAY
            )
            is not None
        )
        assert (
            await directory_store.set_status(
                conn, coordinator, True, 4, by="operations", lasts=DAY
            )
            is not None
        )

        await directory_store.load(
            conn, dorset(name="Renamed"), source="v2"
        )  # the same status in the seed as before
        stored = {
            s.service_id: s
            for s in (await directory_store.read(conn) or pytest.fail("empty")).services
        }
        assert stored[pharmacy].name == "Renamed"
        assert (stored[pharmacy].accepting, stored[pharmacy].capacity) == (False, 0), (
            "what the pharmacy said stands"
        )
        assert (await directory_store.updated_by(conn))[pharmacy] == "agency-fd001"
        reported = stored[pharmacy].status_expires_at
        assert reported is not None
        assert reported - stored[pharmacy].capacity_updated_at == DAY, (
            "and lapses when it said it would"
        )

        await directory_store.load(
            conn, dorset(name="Renamed", capacity=12), source="v3"
        )  # the seed now says something new
        stored = {
            s.service_id: s
            for s in (await directory_store.read(conn) or pytest.fail("empty")).services
        }
        assert (stored[pharmacy].accepting, stored[pharmacy].capacity) == (True, 12), (
            "a deliberate seed change wins"
        )
        assert (await directory_store.updated_by(conn))[pharmacy] == "seed v3"
        assert stored[pharmacy].status_expires_at is None, (
            "a status from the seeds does not lapse"
        )
        assert stored[coordinator].capacity == 4, (
            "a service whose seed status did not change keeps its live status"
        )

        seed = yaml.safe_load((SEEDS / "dorset.yaml").read_text())
        seed["services"] = [s for s in seed["services"] if s["service_id"] != pharmacy]
        seed["organisations"] = [
            o
            for o in seed["organisations"]
            if o["ods_code"] != stored[pharmacy].ods_code
        ]
        await directory_store.load(
            conn, directory_module.Directory.model_validate(seed), source="v4"
        )
        remaining = await directory_store.read(conn) or pytest.fail("empty")
        assert pharmacy not in {s.service_id for s in remaining.services}
        assert stored[pharmacy].ods_code not in {
            o.ods_code for o in remaining.organisations
        }
        assert (
            await directory_store.set_status(
                conn, pharmacy, True, None, by="operations", lasts=DAY
            )
            is None
        )


@pytest.mark.hazard("HAZ-018")
async def test_the_revision_moves_only_when_a_change_commits(
    store: asyncpg.Pool,
) -> None:
    async with store.acquire() as conn, store.acquire() as other:
        await directory_store.load(conn, dorset(), source="v1")
        loaded = await directory_store.revision(conn)
        await directory_store.read(conn)
        assert await directory_store.revision(conn) == loaded, "reading changes nothing"

        changing = other.transaction()
        await changing.start()
        await directory_store.set_status(
            other, "pharmacy-fd001", False, None, by="agency-fd001", lasts=DAY
        )
        assert await directory_store.revision(conn) == loaded, "not until it commits"
        await changing.commit()
        assert await directory_store.revision(conn) > loaded

        by_hand = await directory_store.revision(conn)
        await other.execute(
            "UPDATE directory_services SET capacity = 3 WHERE service_id = 'hub-coordinator-purbeck'"
        )
        assert await directory_store.revision(conn) > by_hand, (
            "a fix made in SQL is noticed too"
        )
