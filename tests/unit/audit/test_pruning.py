"""What ``signpost audit prune`` prints: what went, up to which row, and the anchor verification resumes from."""

from datetime import UTC, datetime

from services.audit.domain.chain import Anchor
from services.audit.domain.retention import PrunePlan
from services.audit.pruning import Pruned

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
PLAN = PrunePlan(up_to_seq=120, anchor=Anchor(seq=120, row_hash="ab" * 32, created_at=NOW, rows_pruned=120),
                 pruned_before=datetime(2019, 11, 27, 9, 30, tzinfo=UTC))  # fmt: skip


def test_a_prune_names_the_rows_the_cut_and_the_whole_anchor_hash() -> None:
    assert Pruned(PLAN, deleted=120, dry_run=False).summary == (
        f"pruned 120 rows (seq up to 120, recorded before 2019-11-27 09:30 UTC); anchor: row 120, hash {'ab' * 32}"
    )


def test_a_dry_run_says_what_would_go_and_that_nothing_went() -> None:
    summary = Pruned(PLAN, deleted=0, dry_run=True).summary
    assert summary == "would prune 120 rows (seq up to 120, recorded before 2019-11-27 09:30 UTC); nothing deleted"


def test_nothing_old_enough_says_so() -> None:
    assert Pruned(None, deleted=0, dry_run=False).summary == "nothing old enough to prune"
