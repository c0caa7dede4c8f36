"""What `signpost audit prune` prints: what went from which chain, up to which row, and the anchors it leaves."""

from datetime import UTC, datetime

from services.audit.domain.chain import LEGACY, Anchor
from services.audit.domain.chains import KEYLESS
from services.audit.domain.retention import PrunePlan
from services.audit.store.retention import Pruned

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
BEFORE = datetime(2019, 11, 27, 9, 30, tzinfo=UTC)
PLAN = PrunePlan(
    up_to_seq=120,
    anchor=Anchor(
        seq=120, row_hash="ab" * 32, created_at=NOW, rows_pruned=120, chain=LEGACY
    ),
    pruned_before=BEFORE,
)
SHARD = PrunePlan(
    up_to_seq=7,
    anchor=Anchor(seq=7, row_hash="cd" * 32, created_at=NOW, rows_pruned=7, chain=3),
    pruned_before=BEFORE,
)
KEYLESS_PLAN = PrunePlan(
    up_to_seq=2,
    anchor=Anchor(
        seq=2, row_hash="ef" * 32, created_at=NOW, rows_pruned=2, chain=KEYLESS
    ),
    pruned_before=BEFORE,
)


def test_a_prune_names_the_rows_the_cut_and_the_whole_anchor_hash() -> None:
    assert Pruned((PLAN,), deleted=120, dry_run=False).summary == (
        f"pruned 120 rows (legacy up to row 120; recorded before 2019-11-27 09:30 UTC); anchors: legacy row 120, hash {'ab' * 32}"
    )


def test_a_prune_of_several_chains_names_each_chain_its_cut_and_its_anchor() -> None:
    summary = Pruned((SHARD, KEYLESS_PLAN), deleted=9, dry_run=False).summary
    assert summary == (
        "pruned 9 rows (shard 3 up to row 7, keyless up to row 2; recorded before 2019-11-27 09:30 UTC);"
        f" anchors: shard 3 row 7, hash {'cd' * 32}; keyless row 2, hash {'ef' * 32}"
    )


def test_a_dry_run_says_what_would_go_and_that_nothing_went() -> None:
    summary = Pruned((PLAN, SHARD), deleted=0, dry_run=True).summary
    assert summary == (
        "would prune 127 rows (legacy up to row 120, shard 3 up to row 7; recorded before 2019-11-27 09:30 UTC); nothing deleted"
    )


def test_nothing_old_enough_says_so() -> None:
    assert Pruned((), deleted=0, dry_run=False).summary == "nothing old enough to prune"
