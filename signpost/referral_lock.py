"""One referral at a time, across a service's instances and consumer groups: a lock per referral, per transaction.

A referral's cancellation and its routing or decline arrive on different
topics, read by different consumer groups in transactions of their own. Under
READ COMMITTED each could look for the other's row before it was committed,
and both go ahead: a reroute published, or an assignment delivered, after the
service had recorded the cancellation. Taking this lock first serialises them,
so whichever comes second sees what the first did.

Locks are taken in key order, so two batches never wait on each other in a
cycle. Each service passes its own ``space``: services share a database, and
one service's lock must not hold up another's.
"""

from collections.abc import Iterable
from uuid import UUID

from signpost.database import Conn


def lock_key(referral_id: UUID) -> int:
    """A stable 32-bit key (PostgreSQL's two-key advisory locks take two int4s)."""
    return int.from_bytes(referral_id.bytes[:4], "big", signed=True)


async def lock_referrals(conn: Conn, space: int, referral_ids: Iterable[UUID]) -> None:
    """Hold each referral's lock until the caller's transaction ends."""
    keys = sorted({lock_key(r) for r in referral_ids})
    if keys:
        # unnest keeps the array's order, so the locks are taken in key order.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1::int4, k) FROM unnest($2::int4[]) AS k",
            space,
            keys,
        )
