"""How far retention may prune one chain of the audit log, decided without touching it.

Pruning removes evidence, so the plan is conservative: it cuts only a prefix
of a chain's rows all older than the policy's age, never into rows the last
verification did not cover, and never below a minimum number of rows. The
recorder continues a chain from its newest row, so an empty chain would
restart at its genesis and hand out position 1 again: at least one row of
every chain always stays. Each chain is planned on its own and gets its own
anchor (``chains``: one per shard, the keyless chain, the closed legacy one).

The caller carries the plans out in one transaction: insert each anchor (with
``pruned_before``), then delete each chain's rows up to ``up_to_seq``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.domain.chain import LEGACY, Anchor, Verification


@dataclass(frozen=True)
class RetentionPolicy:
    max_age: timedelta
    keep_min_rows: int = 1

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")
        if self.keep_min_rows < 1:
            raise ValueError(
                "keep_min_rows must be at least 1: the chain continues from the newest row"
            )


@dataclass(frozen=True)
class AgedRow:
    """What retention needs to know of one of a chain's oldest rows."""

    seq: int
    """Its position in its chain."""
    row_hash: str
    recorded_at: datetime


@dataclass(frozen=True)
class PrunePlan:
    up_to_seq: int
    anchor: Anchor
    """The last pruned row's seq and hash, where verification resumes."""
    pruned_before: datetime
    """Rows recorded before this instant were old enough to prune (``audit_anchors.pruned_before``)."""


class PruneRefused(Exception):
    """Retention must not run: pruning now could destroy the evidence of tampering."""


def prune_plan(
    oldest: Iterable[AgedRow],
    *,
    total_rows: int,
    now: datetime,
    policy: RetentionPolicy,
    verification: Verification,
    chain: int = LEGACY,
) -> PrunePlan | None:
    """The cut point over ``oldest`` (``chain``'s first rows, in position order), or ``None`` when nothing may go yet.

    ``total_rows`` is the number of rows in the chain and ``verification`` the
    result of verifying it, both read in the same snapshot as ``oldest``.
    Rows outside the verified range are never cut. Passing only the first N
    rows caps how many one run deletes.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a UTC offset")
    if not verification.ok:
        raise PruneRefused(
            f"the audit chain does not verify ({verification.summary}); keep every row as evidence"
        )
    cutoff = now - policy.max_age
    may_remove = total_rows - policy.keep_min_rows
    verified = range(verification.first_seq or 0, (verification.last_seq or -1) + 1)
    last: AgedRow | None = None
    count = 0
    for row in oldest:
        if last is not None and row.seq != last.seq + 1:
            raise ValueError(
                f"oldest rows must be consecutive: row {row.seq} follows row {last.seq}"
            )
        if (
            count >= may_remove
            or row.seq not in verified
            or not row.recorded_at < cutoff
        ):
            break
        last, count = row, count + 1
    if last is None:
        return None
    anchor = Anchor(
        seq=last.seq,
        row_hash=last.row_hash,
        created_at=now,
        rows_pruned=count,
        chain=chain,
    )
    return PrunePlan(up_to_seq=last.seq, anchor=anchor, pruned_before=cutoff)
