"""The chaos run's fault plan and its verdict, which must fail on any loss or duplicate."""

from dataclasses import replace

import pytest

from benchmarks.chaos import ACTIONS, Counts, plan_faults, problems

CLEAN = Counts(accepted=100, stored=100, decided=100, assignments=140, delivered=140, delivered_audited=140,
               agency_copies=143, agency_copies_distinct=140, chain_ok=True, chain_summary="chain intact")  # fmt: skip


def test_every_fault_happens_each_round_within_the_load_and_in_order() -> None:
    plan = plan_faults(seed=7, referrals=1000, rounds=2)
    assert sorted(f.action for f in plan) == sorted(ACTIONS * 2)
    assert all(100 <= f.after <= 850 for f in plan)
    assert [f.after for f in plan] == sorted(f.after for f in plan)
    assert plan == plan_faults(seed=7, referrals=1000, rounds=2), "a seed replays the same run"


def test_a_clean_run_has_no_problems_even_with_redelivered_copies() -> None:
    assert problems(CLEAN) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"stored": 99}, "1 of 100 accepted referrals not stored"),
        ({"decided": 98}, "2 of 100 accepted referrals not routed"),
        ({"delivered": 139}, "1 of 140 assignments not delivered"),
        ({"delivered_audited": 139}, "1 of 140 deliveries not audited"),
        ({"agency_copies_distinct": 141}, "141 distinct agency copies for 140 assignments"),
        ({"answered_twice": 1}, "answered twice: 1"),
        ({"decisions_duplicated": 2}, "decisions duplicated: 2"),
        ({"audit_rows_duplicated": 3}, "audit rows duplicated: 3"),
        ({"chain_ok": False, "chain_summary": "row 5 edited"}, "audit chain: row 5 edited"),
    ],
)
def test_any_loss_or_duplicate_is_named(change: dict[str, object], complaint: str) -> None:
    assert problems(replace(CLEAN, **change)) == [complaint]  # type: ignore[arg-type]
