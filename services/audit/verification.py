"""Read the audit log chain by chain and check every hash chain (``signpost audit verify``)."""

import asyncpg

from services.audit.domain import chain, chains
from signpost.database import Conn

CHUNK_ROWS = 5_000
"""Rows read per round trip: memory stays bounded by this, not by the length of the log."""
ROW = "seq, chain, chain_seq, event_id, event_type, topic, occurred_at, payload::text AS payload, prev_hash, row_hash"
LEGACY_ROWS = f"SELECT {ROW} FROM audit_log WHERE chain = -1 ORDER BY seq"
SHARDED_ROWS = f"SELECT {ROW} FROM audit_log WHERE chain >= 0 ORDER BY chain, chain_seq"
"""Every chain's rows together, in position order, as the (chain, chain_seq) index holds them."""
LATEST_ANCHORS = (
    "SELECT DISTINCT ON (chain) chain, seq, row_hash, created_at, rows_pruned FROM audit_anchors ORDER BY chain, seq DESC"
)


async def verify(database_url: str, schema: str = "audit") -> chains.LogVerification:
    """Stream every row, oldest first, each chain from its latest retention anchor onwards."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await verify_in(conn)
    finally:
        await conn.close()


async def verify_in(conn: Conn, chunk_rows: int = CHUNK_ROWS) -> chains.LogVerification:
    """Verify within the caller's transaction (retention plans its cuts on the same snapshot)."""
    anchors = {r["chain"]: chain.Anchor(**dict(r)) for r in await conn.fetch(LATEST_ANCHORS)}
    sealed = await conn.fetchrow("SELECT seq, row_hash FROM audit_legacy_seal LIMIT 1")
    verifier = chains.LogVerifier(anchors, chains.Seal(sealed["seq"], sealed["row_hash"]) if sealed else chains.NO_LEGACY)
    for query in (LEGACY_ROWS, SHARDED_ROWS):
        cursor = await conn.cursor(query)
        while chunk := await cursor.fetch(chunk_rows):
            verifier.feed(map(_chain_row, chunk))
    return verifier.finish()


def _chain_row(r: asyncpg.Record) -> chain.ChainRow:
    legacy = r["chain"] == chain.LEGACY
    return chain.ChainRow(
        seq=r["seq"] if legacy else r["chain_seq"], event_id=str(r["event_id"]), event_type=r["event_type"], topic=r["topic"],
        occurred_at=r["occurred_at"].isoformat(), payload=r["payload"], prev_hash=r["prev_hash"], row_hash=r["row_hash"],
        chain=r["chain"], log_seq=None if legacy else r["seq"],
    )  # fmt: skip
