"""The directory's command-line checks and who may change a service's status: the pure parts, without PostgreSQL."""

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.router.api.directory import may_set_status
from services.router.cli import read_seeds, seed_problems, service_table
from services.router.domain.directory import Directory
from signpost.clients import Principal

SEEDS = Path(__file__).parents[3] / "services" / "router" / "directory"
DORSET: dict[str, Any] = yaml.safe_load((SEEDS / "dorset.yaml").read_text())


def problems_in(seed: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        Directory.model_validate(seed)
    return seed_problems(refused.value, seed)


def test_a_missing_field_is_named_with_the_service_it_belongs_to() -> None:
    seed = copy.deepcopy(DORSET)
    del seed["services"][2]["agency_id"]
    assert problems_in(seed) == [
        f"services[2] ({DORSET['services'][2]['service_id']}).agency_id: Field required"
    ]


def test_a_misspelt_weekday_is_named_by_its_place_in_the_hours_not_by_pydantic_s_union_branch() -> (
    None
):
    seed = copy.deepcopy(DORSET)
    seed["services"][0]["hours"] = {"mnday": ["09:00-17:00"]}
    found = problems_in(seed)
    assert any(
        p.startswith(
            f"services[0] ({DORSET['services'][0]['service_id']}).hours.mnday: Input should be 'mon'"
        )
        for p in found
    ), found
    assert not any("literal[" in p or "dict[" in p for p in found), found


def test_broken_references_come_one_a_line_without_pydantic_s_prefix() -> None:
    seed = copy.deepcopy(DORSET)
    seed["services"][0]["network_ids"] = ["atlantis"]
    seed["services"][1]["ods_code"] = "ZZZ99"
    assert problems_in(seed) == [
        f"service {DORSET['services'][0]['service_id']}: network atlantis is not in the directory",
        f"service {DORSET['services'][1]['service_id']}: organisation ZZZ99 is not in the directory",
    ]


def test_read_seeds_names_the_file_and_finds_clashes_between_files_that_are_each_sound(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("services: [\n")
    area, problems = read_seeds([broken, SEEDS / "croydon.yaml"])
    assert area is None
    assert len(problems) == 1
    assert problems[0].startswith(f"{broken}: ")

    area, problems = read_seeds([SEEDS / "dorset.yaml", SEEDS / "dorset.yaml"])
    assert area is None
    assert any("duplicate service ids" in p for p in problems), problems


@pytest.mark.hazard("HAZ-019")
def test_an_empty_folder_is_a_problem_not_an_empty_directory_that_would_remove_every_service(
    tmp_path: Path,
) -> None:
    area, problems = read_seeds([tmp_path])
    assert area is None
    assert problems == [f"{tmp_path}: no *.yaml seed files in this folder"]


def test_read_seeds_merges_a_folder_of_sound_seeds() -> None:
    area, problems = read_seeds([SEEDS])
    assert problems == []
    assert area is not None
    assert {"dorset-purbeck-hub", "croydon-north"} <= {
        n.network_id for n in area.networks
    }


def test_the_list_shows_status_capacity_and_who_set_it_when() -> None:
    area, _ = read_seeds([SEEDS / "dorset.yaml"])
    assert area is not None
    first, second = area.services[:2]
    when = datetime(2026, 11, 3, 9, 5, tzinfo=UTC)
    closed = first.model_copy(
        update={
            "accepting": False,
            "capacity": 0,
            "capacity_updated_at": when,
            "status_expires_at": when + timedelta(hours=24),
        }
    )
    header, *rows = service_table(
        [closed, second], {first.service_id: "agency-x"}, when + timedelta(hours=1)
    )
    assert header.split() == [
        "SERVICE",
        "TYPE",
        "NETWORKS",
        "ACCEPTING",
        "CAPACITY",
        "UPDATED",
    ]
    assert rows[0].split()[0] == first.service_id
    assert rows[0].split()[3:] == ["NO", "0", "2026-11-03", "09:05", "by", "agency-x"]
    assert rows[1].split()[3:5] == ["yes", "-"], (
        "capacity not reported is shown as such, not as zero"
    )
    assert rows[1].endswith("by ?")


def test_the_list_shows_a_lapsed_status_as_routing_sees_it() -> None:
    area, _ = read_seeds([SEEDS / "dorset.yaml"])
    assert area is not None
    when = datetime(2026, 11, 3, 9, 5, tzinfo=UTC)
    closed = area.services[0].model_copy(
        update={
            "accepting": False,
            "capacity": 0,
            "capacity_updated_at": when,
            "status_expires_at": when + timedelta(hours=24),
        }
    )
    _, row = service_table(
        [closed], {closed.service_id: "agency-x"}, when + timedelta(hours=24)
    )
    assert row.split()[3:] == [
        "yes",
        "-",
        "2026-11-03",
        "09:05",
        "by",
        "agency-x",
        "(lapsed)",
    ]


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal("operations", "X26", "operations"), True),
        (Principal("agency-owner", "RJ6", "agency", "owner"), True),
        (Principal("agency-other", "RJ6", "agency", "someone-else"), False),
        (Principal("agency-unset", "RJ6", "agency", None), False),
        # A referrer whose registry entry happens to carry the agency id is still not the agency.
        (Principal("gp-h81001", "H81001", "referrer", "owner"), False),
    ],
)
def test_only_the_owning_agency_or_operations_may_set_a_service_s_status(
    principal: Principal, allowed: bool
) -> None:
    assert may_set_status(principal, "owner") is allowed
