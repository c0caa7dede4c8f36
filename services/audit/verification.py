"""Read the audit log in order and check its hash chain (``signpost audit verify``)."""

import asyncpg

from services.audit.domain import chain

CHUNK_ROWS = 5_000
"""Rows read per round trip: memory stays bounded by this, not by the length of the log."""


async def verify(database_url: str, schema: str = "audit") -> chain.Verification:
    """Stream every row, oldest first, from the latest retention anchor onwards."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await verify_in(conn)
    finally:
        await conn.close()


async def verify_in(conn: asyncpg.Connection, chunk_rows: int = CHUNK_ROWS) -> chain.Verification:
    """Verify within the caller's transaction (retention plans its cut on the same snapshot)."""
    anchor_row = await conn.fetchrow("SELECT seq, row_hash, created_at, rows_pruned FROM audit_anchors ORDER BY seq DESC LIMIT 1")
    verifier = chain.Verifier(chain.Anchor(**dict(anchor_row)) if anchor_row else None)
    cursor = await conn.cursor(
        "SELECT seq, event_id, event_type, topic, occurred_at, payload::text AS payload, prev_hash, row_hash"
        " FROM audit_log ORDER BY seq"
    )
    while chunk := await cursor.fetch(chunk_rows):
        verifier.feed(map(_chain_row, chunk))
    return verifier.finish()


def _chain_row(r: asyncpg.Record) -> chain.ChainRow:
    return chain.ChainRow(
        seq=r["seq"], event_id=str(r["event_id"]), event_type=r["event_type"], topic=r["topic"],
        occurred_at=r["occurred_at"].isoformat(), payload=r["payload"], prev_hash=r["prev_hash"], row_hash=r["row_hash"],
    )  # fmt: skip
