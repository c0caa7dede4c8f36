"""The growth benchmark's grown directories and its comparison: a grown directory must leave today's routing alone."""

from typing import Any

import pytest

from benchmarks.growth import compare, copies_for, grown, replica, seed_directory
from services.router.domain.directory import Directory, merge


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return seed_directory()


def test_a_replica_merges_with_the_seed_without_a_shared_practice_network_service_or_agency(
    seed: dict[str, Any],
) -> None:
    together = merge(
        [
            Directory.model_validate(seed),
            Directory.model_validate({"area": "g", "version": "1", **replica(seed, 7)}),
        ]
    )
    assert len(together.services) == 2 * len(seed["services"])
    assert len(together.agency_ids()) == 2 * len(
        {s["agency_id"] for s in seed["services"]}
    )
    assert len({o.ods_code for o in together.organisations}) == 2 * len(
        {o["ods_code"] for o in seed["organisations"]}
    )


def test_the_seeds_practices_and_pharmacies_route_as_before_in_a_grown_directory(
    seed: dict[str, Any],
) -> None:
    today = Directory.model_validate(seed)
    bigger = merge([today, Directory.model_validate(grown(seed, 3))])
    for practice in ("H81001", "H81050", "J81001"):
        assert bigger.network_of(practice) == today.network_of(practice)
    assert bigger.pharmacy("FA001") == today.pharmacy("FA001")
    copied = bigger.pharmacy("003FA001")
    assert copied is not None
    assert copied != today.pharmacy("FA001")


def test_nine_copies_make_ten_times_todays_agencies(seed: dict[str, Any]) -> None:
    today = len({s["agency_id"] for s in seed["services"]})
    area = grown(seed, 9)
    assert (
        len({s["agency_id"] for s in seed["services"] + area["services"]}) == 10 * today
    )


def test_copies_for_reaches_the_entries_asked_and_no_more_than_one_copy_past() -> None:
    copies = copies_for(117, 100_000)
    assert 117 * (copies + 1) >= 100_000 > 117 * copies
    assert copies_for(117, 117) == 0


def test_a_copy_past_999_is_refused_rather_than_given_an_ods_code_too_long(
    seed: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="999"):
        replica(seed, 1000)


def test_compare_gives_each_parts_ratio_and_none_where_the_baseline_spent_nothing() -> (
    None
):
    assert compare(
        {"audit": 2.0, "router": 0.0, "kafka": 1.0}, {"audit": 3.0, "router": 0.5}
    ) == {
        "audit": (2.0, 3.0, 1.5),
        "router": (0.0, 0.5, None),
    }
