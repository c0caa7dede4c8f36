"""Retention: prune audit rows older than the policy allows, and leave an anchor so the chain still verifies.

The decision is the pure ``retention.prune_plan``; this carries it out in one
repeatable-read transaction, so the verification it relies on, the rows it
cuts and the anchor it writes all see the same log. The append-only trigger
lets these deletes through only with ``signpost.audit_retention`` on and only
for rows an anchor already covers.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.audit.domain.retention import AgedRow, PrunePlan, RetentionPolicy, prune_plan
from services.audit.verification import verify_in

MAX_ROWS_PER_RUN = 200_000  # bounds one transaction; the next run takes the next slice


@dataclass(frozen=True)
class Pruned:
    plan: PrunePlan | None
    deleted: int
    dry_run: bool

    @property
    def summary(self) -> str:
        """What went (or would go), and the anchor ``audit verify`` resumes from; hashes only, no event content."""
        if self.plan is None:
            return "nothing old enough to prune"
        anchor = self.plan.anchor
        before = f"recorded before {self.plan.pruned_before:%Y-%m-%d %H:%M} UTC"
        if self.dry_run:
            return f"would prune {anchor.rows_pruned} rows (seq up to {anchor.seq}, {before}); nothing deleted"
        return f"pruned {self.deleted} rows (seq up to {anchor.seq}, {before}); anchor: row {anchor.seq}, hash {anchor.row_hash}"


async def prune(
    database_url: str, max_age: timedelta, *, dry_run: bool = False, now: datetime | None = None, schema: str = "audit"
) -> Pruned:
    """Raises ``retention.PruneRefused`` when the chain does not verify: a broken log is evidence and stays whole."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction(isolation="repeatable_read"):
            verification = await verify_in(conn)
            total = await conn.fetchval("SELECT count(*) FROM audit_log")
            rows = await conn.fetch("SELECT seq, row_hash, recorded_at FROM audit_log ORDER BY seq LIMIT $1", MAX_ROWS_PER_RUN)
            oldest = [AgedRow(seq=r["seq"], row_hash=r["row_hash"], recorded_at=r["recorded_at"]) for r in rows]
            plan = prune_plan(oldest, total_rows=total, now=now or datetime.now(UTC), policy=RetentionPolicy(max_age),
                              verification=verification)  # fmt: skip
            if plan is None or dry_run:
                return Pruned(plan, 0, dry_run)
            await conn.execute(
                "INSERT INTO audit_anchors (seq, row_hash, rows_pruned, pruned_before, created_at) VALUES ($1, $2, $3, $4, $5)",
                plan.anchor.seq, plan.anchor.row_hash, plan.anchor.rows_pruned, plan.pruned_before, plan.anchor.created_at,
            )  # fmt: skip
            await conn.execute("SET LOCAL signpost.audit_retention = 'on'")
            status = await conn.execute("DELETE FROM audit_log WHERE seq <= $1", plan.up_to_seq)
            deleted = int(status.split()[-1])
            if deleted != plan.anchor.rows_pruned:
                # The anchor would misstate what went: roll the whole run back rather than record it.
                raise RuntimeError(f"deleted {deleted} rows where the plan counted {plan.anchor.rows_pruned}; nothing pruned")
            return Pruned(plan, deleted, dry_run=False)
    finally:
        await conn.close()
