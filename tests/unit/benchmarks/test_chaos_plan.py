"""The chaos run's fault plan and its verdict, which must fail on any loss or duplicate."""

from dataclasses import replace

import pytest

from benchmarks.chaos import (
    ACTIONS,
    ALL_CHECKS,
    Counts,
    Once,
    plan_faults,
    problems,
    tally,
)
from benchmarks.chaos_counts import copies_once

REFERRAL_KEYED = {name: Once(expected=100) for name in ALL_CHECKS}
CLEAN = Counts(
    accepted=100,
    assignments=140,
    once=REFERRAL_KEYED,
    agency_copies=143,
    agency_copies_distinct=140,
    chain_ok=True,
    chain_summary="chain intact",
)
STORED = "stored (intake.referrals)"


def test_every_fault_happens_each_round_within_the_load_and_in_order() -> None:
    plan = plan_faults(seed=7, referrals=1000, rounds=2)
    assert sorted(f.action for f in plan) == sorted(ACTIONS * 2)
    assert all(100 <= f.after <= 850 for f in plan)
    assert [f.after for f in plan] == sorted(f.after for f in plan)
    assert plan == plan_faults(seed=7, referrals=1000, rounds=2), (
        "a seed replays the same run"
    )
    assert plan != plan_faults(seed=8, referrals=1000, rounds=2)


def test_each_service_the_broker_and_postgres_are_all_faulted() -> None:
    targets = {f.target for f in plan_faults(seed=1, referrals=300)}
    assert targets == {"intake", "router", "notifier", "audit", "broker", "postgres"}


def test_a_clean_run_has_no_problems_even_with_redelivered_copies() -> None:
    assert problems(CLEAN) == []
    assert tally(CLEAN) == {"lost": 0, "duplicated": 0, "redelivered": 3}


@pytest.mark.parametrize(
    ("once", "complaint", "lost", "duplicated"),
    [
        (Once(100, missing=1), f"{STORED}: 1 of 100 missing", 1, 0),
        (Once(100, doubled=2), f"{STORED}: 2 of 100 more than once", 0, 2),
        (
            Once(100, extra=3),
            f"{STORED}: 3 for no accepted referral or assignment",
            0,
            3,
        ),
    ],
)
def test_a_missing_doubled_or_unasked_row_is_named_and_counted(
    once: Once, complaint: str, lost: int, duplicated: int
) -> None:
    counts = replace(CLEAN, once={**REFERRAL_KEYED, STORED: once})
    assert problems(counts) == [complaint]
    assert tally(counts)["lost"] == lost
    assert tally(counts)["duplicated"] == duplicated


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"answered_twice": 1}, "one referral id answered to two submissions: 1"),
        ({"assignments_duplicated": 2}, "assignments duplicated: 2"),
        ({"audit_rows_duplicated": 3}, "audit rows duplicated (same event id): 3"),
        (
            {"chain_ok": False, "chain_summary": "row 5 edited"},
            "audit chain: row 5 edited",
        ),
    ],
)
def test_any_duplicate_or_broken_chain_is_named(
    change: dict[str, object], complaint: str
) -> None:
    assert problems(replace(CLEAN, **change)) == [complaint]  # type: ignore[arg-type]


def test_a_check_that_never_ran_is_a_failure_not_a_pass() -> None:
    skipped = {k: v for k, v in REFERRAL_KEYED.items() if k != STORED}
    assert problems(replace(CLEAN, once=skipped)) == [f"{STORED}: not counted"]


def copy(assignment: str, event_id: str) -> dict[str, object]:
    return {
        "type": "agency.referral",
        "event_id": event_id,
        "assignment": {"assignment_id": assignment},
    }


def test_the_same_copy_twice_is_a_redelivery_but_a_second_event_id_is_a_second_referral() -> (
    None
):
    assignments = {"a1", "a2", "a3"}
    redelivered = [
        copy("a1", "e1"),
        copy("a1", "e1"),
        copy("a2", "e2"),
        copy("a3", "e3"),
    ]
    assert copies_once(assignments, redelivered) == Once(expected=3)
    doubled = [copy("a1", "e1"), copy("a1", "e9"), copy("a2", "e2")]
    assert copies_once(assignments, doubled) == Once(expected=3, missing=1, doubled=1)
    stray = [copy("a1", "e1"), copy("a2", "e2"), copy("a3", "e3"), copy("zz", "e4")]
    assert copies_once(assignments, stray) == Once(expected=3, extra=1)
