"""Retention: prune audit rows older than the policy allows, chain by chain, and leave an anchor in each chain cut.

The decisions are the pure ``retention.prune_plan``, one per chain; this
carries them out in one repeatable-read transaction, so the verification
they rely on, the rows they cut and the anchors written all see the same
log. A log with any chain broken is pruned nowhere: the whole log is the
evidence. The append-only trigger lets these deletes through only with
``signpost.audit_retention`` on and only for rows their own chain's anchor
already covers (migration 009).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.audit.domain.chain import LEGACY
from services.audit.domain.chains import chain_name
from services.audit.domain.retention import (
    AgedRow,
    PrunePlan,
    PruneRefused,
    RetentionPolicy,
    prune_plan,
)
from services.audit.store.chains import verify_in

ANCHOR = (
    "INSERT INTO audit_anchors (chain, seq, row_hash, rows_pruned, pruned_before, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
MAX_ROWS_PER_RUN = 200_000  # bounds one transaction; the next run takes the next slice
OLDEST = {
    True: "SELECT seq AS position, row_hash, recorded_at FROM audit_log WHERE chain = -1 ORDER BY seq LIMIT $2",
    False: "SELECT chain_seq AS position, row_hash, recorded_at FROM audit_log WHERE chain = $1 ORDER BY chain_seq LIMIT $2",
}
"""A chain's first rows, by the index that holds it in order (the legacy chain's position is its seq)."""
CUT = {
    True: "DELETE FROM audit_log WHERE chain = -1 AND seq <= $2",
    False: "DELETE FROM audit_log WHERE chain = $1 AND chain_seq <= $2",
}


@dataclass(frozen=True)
class Pruned:
    plans: tuple[PrunePlan, ...]
    """One per chain cut, in chain order."""
    deleted: int
    dry_run: bool

    @property
    def summary(self) -> str:
        """What went (or would go), and the anchors ``audit verify`` resumes from; hashes only, no event content."""
        if not self.plans:
            return "nothing old enough to prune"
        rows = sum(plan.anchor.rows_pruned for plan in self.plans)
        before = f"recorded before {self.plans[0].pruned_before:%Y-%m-%d %H:%M} UTC"
        cuts = ", ".join(
            f"{chain_name(p.anchor.chain)} up to row {p.anchor.seq}" for p in self.plans
        )
        if self.dry_run:
            return f"would prune {rows} rows ({cuts}; {before}); nothing deleted"
        anchors = "; ".join(
            f"{chain_name(p.anchor.chain)} row {p.anchor.seq}, hash {p.anchor.row_hash}"
            for p in self.plans
        )
        return f"pruned {self.deleted} rows ({cuts}; {before}); anchors: {anchors}"


async def prune(
    database_url: str,
    max_age: timedelta,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    schema: str = "audit",
) -> Pruned:
    """Raises ``retention.PruneRefused`` when any chain does not verify: a broken log is evidence and stays whole."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    at = now or datetime.now(UTC)
    try:
        async with conn.transaction(isolation="repeatable_read"):
            verification = await verify_in(conn)
            if not verification.ok:
                raise PruneRefused(
                    f"the audit log does not verify ({verification.summary}); keep every row as evidence"
                )
            totals = {
                r["chain"]: r["rows"]
                for r in await conn.fetch(
                    "SELECT chain, count(*) AS rows FROM audit_log GROUP BY chain"
                )
            }
            plans: list[PrunePlan] = []
            budget = MAX_ROWS_PER_RUN
            for chain, checked in verification.chains:
                if budget <= 0 or not totals.get(chain):
                    continue
                rows = await conn.fetch(OLDEST[chain == LEGACY], chain, budget)
                oldest = [
                    AgedRow(
                        seq=r["position"],
                        row_hash=r["row_hash"],
                        recorded_at=r["recorded_at"],
                    )
                    for r in rows
                ]
                plan = prune_plan(
                    oldest,
                    total_rows=totals[chain],
                    now=at,
                    policy=RetentionPolicy(max_age),
                    verification=checked,
                    chain=chain,
                )
                if plan is not None:
                    plans.append(plan)
                    budget -= plan.anchor.rows_pruned
            if not plans or dry_run:
                return Pruned(tuple(plans), 0, dry_run)
            await conn.executemany(
                ANCHOR,
                [
                    (
                        p.anchor.chain,
                        p.anchor.seq,
                        p.anchor.row_hash,
                        p.anchor.rows_pruned,
                        p.pruned_before,
                        p.anchor.created_at,
                    )
                    for p in plans
                ],
            )
            await conn.execute("SET LOCAL signpost.audit_retention = 'on'")
            deleted = 0
            for plan in plans:
                status = await conn.execute(
                    CUT[plan.anchor.chain == LEGACY], plan.anchor.chain, plan.up_to_seq
                )
                cut = int(status.split()[-1])
                if cut != plan.anchor.rows_pruned:
                    # The anchor would misstate what went: roll the whole run back rather than record it.
                    name = chain_name(plan.anchor.chain)
                    raise RuntimeError(
                        f"deleted {cut} rows of {name} where the plan counted {plan.anchor.rows_pruned}; nothing pruned"
                    )
                deleted += cut
            return Pruned(tuple(plans), deleted, dry_run=False)
    finally:
        await conn.close()
