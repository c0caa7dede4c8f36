"""Retention's cut point: only old rows, only verified rows, never the whole log, and an anchor the rest verifies from."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.audit.domain.chain import ChainRow, FindingKind, next_row, verify
from services.audit.domain.retention import (
    AgedRow,
    PrunePlan,
    PruneRefused,
    RetentionPolicy,
    prune_plan,
)

DAY_0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = DAY_0 + timedelta(days=60)
THIRTY_DAYS = RetentionPolicy(max_age=timedelta(days=30))


def chain(length: int = 50) -> list[ChainRow]:
    rows: list[ChainRow] = []
    for n in range(1, length + 1):
        at = DAY_0 + timedelta(days=n)
        rows.append(
            next_row(
                rows[-1] if rows else None,
                f"00000000-0000-4000-8000-{n:012d}",
                "t",
                "t",
                at,
                json.dumps({"n": n}),
            )
        )
    return rows


def aged(
    rows: list[ChainRow], recorded: dict[int, datetime] | None = None
) -> list[AgedRow]:
    """Row n recorded on day n, unless ``recorded`` says otherwise."""
    recorded = recorded or {}
    return [
        AgedRow(
            row.seq,
            row.row_hash,
            recorded.get(row.seq, DAY_0 + timedelta(days=row.seq)),
        )
        for row in rows
    ]


def plan(
    rows: list[ChainRow], policy: RetentionPolicy = THIRTY_DAYS, **overrides: object
) -> PrunePlan | None:
    arguments: dict[str, object] = {
        "total_rows": len(rows),
        "now": NOW,
        "policy": policy,
        "verification": verify(rows),
    }
    arguments.update(overrides)
    oldest = arguments.pop("oldest", aged(rows))
    return prune_plan(oldest, **arguments)  # type: ignore[arg-type]


def test_rows_older_than_the_maximum_age_are_cut_and_the_anchor_is_the_last_of_them() -> (
    None
):
    rows = chain()
    result = plan(rows)
    assert result is not None
    # Day 30 is exactly 30 days old at NOW: not older than the maximum age, so it stays.
    assert result.up_to_seq == 29
    assert (result.anchor.seq, result.anchor.row_hash) == (29, rows[28].row_hash)
    assert result.anchor.rows_pruned == 29
    assert result.anchor.created_at == NOW
    assert result.pruned_before == NOW - timedelta(days=30)


def test_the_log_left_after_pruning_verifies_from_the_anchor() -> None:
    rows = chain()
    result = plan(rows)
    assert result is not None
    remaining = [row for row in rows if row.seq > result.up_to_seq]
    assert verify(remaining, result.anchor).ok


def test_the_log_left_after_pruning_does_not_verify_from_a_wrong_anchor() -> None:
    rows = chain()
    result = plan(rows)
    assert result is not None
    remaining = [row for row in rows if row.seq > result.up_to_seq]
    wrong = replace(result.anchor, row_hash=rows[27].row_hash)
    findings = verify(remaining, wrong).findings
    assert [(f.kind, f.seq) for f in findings] == [(FindingKind.ANCHOR_MISMATCH, 30)]


def test_a_second_prune_continues_from_the_first_anchor() -> None:
    rows = chain()
    first = plan(rows[:10], total_rows=50)
    assert first is not None
    assert first.up_to_seq == 10
    remaining = rows[10:]
    second = prune_plan(
        aged(remaining),
        total_rows=len(remaining),
        now=NOW,
        policy=THIRTY_DAYS,
        verification=verify(remaining, first.anchor),
    )
    assert second is not None
    assert (second.up_to_seq, second.anchor.rows_pruned) == (29, 19)
    assert verify(rows[29:], second.anchor).ok


def test_a_young_row_stops_the_cut_even_when_older_rows_follow_it() -> None:
    rows = chain()
    result = plan(rows, oldest=aged(rows, {10: NOW - timedelta(days=1)}))
    assert result is not None
    assert result.up_to_seq == 9


def test_nothing_old_enough_gives_no_plan() -> None:
    assert plan(chain(), now=DAY_0 + timedelta(days=31)) is None


def test_an_empty_log_gives_no_plan() -> None:
    assert plan([]) is None


def test_the_minimum_number_of_rows_is_kept() -> None:
    rows = chain()
    result = plan(rows, RetentionPolicy(max_age=timedelta(days=30), keep_min_rows=40))
    assert result is not None
    assert result.up_to_seq == 10


def test_at_least_one_row_stays_so_the_chain_can_continue() -> None:
    rows = chain()
    result = plan(rows, now=DAY_0 + timedelta(days=1000))
    assert result is not None
    assert result.up_to_seq == 49


def test_passing_fewer_rows_caps_one_run() -> None:
    rows = chain()
    result = plan(rows, oldest=aged(rows)[:5])
    assert result is not None
    assert (result.up_to_seq, result.anchor.rows_pruned) == (5, 5)


def test_rows_beyond_the_verified_range_are_never_cut() -> None:
    rows = chain()
    result = plan(rows, verification=verify(rows[:20]))
    assert result is not None
    assert result.up_to_seq == 20


def test_a_chain_that_does_not_verify_is_never_pruned() -> None:
    rows = chain()
    del rows[5]
    with pytest.raises(PruneRefused, match="does not verify"):
        plan(rows, verification=verify(rows))


def test_oldest_rows_must_be_consecutive() -> None:
    rows = chain()
    with pytest.raises(ValueError, match="consecutive"):
        plan(rows, oldest=[*aged(rows)[:3], *aged(rows)[4:]])


def test_now_must_be_an_instant() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        plan(chain(), now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("max_age", "keep_min_rows"),
    [(timedelta(0), 1), (timedelta(days=-1), 1), (timedelta(days=30), 0)],
    ids=["zero age", "negative age", "keep none"],
)
def test_a_policy_that_could_empty_the_log_is_refused(
    max_age: timedelta, keep_min_rows: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetentionPolicy(max_age=max_age, keep_min_rows=keep_min_rows)
