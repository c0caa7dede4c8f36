"""The audit log's hash chains: append a batch to them under their heads' locks, and read them back chain by chain
to check every one (``signpost audit verify``)."""

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.audit.domain import chain, chains
from services.audit.domain.records import Prepared
from signpost.database import Conn

CHAIN_LOCK = 0x5167_A0D1
"""The advisory lock namespace of the chains' heads: ``pg_advisory_xact_lock(CHAIN_LOCK, chain)`` (until migration
009, the one lock of the one chain, ``pg_advisory_xact_lock(CHAIN_LOCK)``)."""
COLUMNS = (
    "seq",
    "chain",
    "chain_seq",
    "event_id",
    "event_type",
    "topic",
    "referral_id",
    "patient_key",
    "correlation_id",
    "occurred_at",
    "recorded_at",
    "payload",
    "prev_hash",
    "row_hash",
    "agency_id",
    "network_id",
    "trace_id",
)

HEADS = """
SELECT c AS chain, h.chain_seq, h.row_hash, a.seq AS anchor_seq, a.row_hash AS anchor_hash,
       (SELECT row_hash FROM audit_legacy_seal LIMIT 1) AS genesis
  FROM unnest($1::int4[]) AS c
  LEFT JOIN LATERAL (SELECT chain_seq, row_hash FROM audit_log WHERE chain = c ORDER BY chain_seq DESC LIMIT 1) h ON true
  LEFT JOIN LATERAL (SELECT seq, row_hash FROM audit_anchors WHERE chain = c ORDER BY seq DESC LIMIT 1) a ON true
"""
"""Each chain's head: its last row, else its retention anchor, else the seal every chain starts from."""


async def append(conn: Conn, prepared: Sequence[Prepared]) -> None:
    """Append a batch to the chains of its rows' shards, holding only those chains' heads.

    The rows come prepared: everything that does not depend on a head
    (provenance, redaction, canonical JSON) is done before any lock. The heads are locked in
    ascending chain order, so two instances whose batches share chains wait
    for each other but never deadlock, and read in a statement of their own:
    at READ COMMITTED (the consumer's transactions) it sees whatever the
    last holder of a head committed. The log-wide seq is drawn after the
    locks, so within a chain seq grows with position. One COPY writes the
    whole batch.
    """
    touched = sorted({p.chain for p in prepared})
    # Extend the chains as a role that may only read and insert (migration 004).
    await conn.execute("SET LOCAL ROLE signpost_audit_writer")
    # One lock per chain, in a fixed order; each ends with the transaction.
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, c) FROM unnest($2::int4[]) AS c",
        CHAIN_LOCK,
        touched,
    )
    heads = {r["chain"]: _head(r) for r in await conn.fetch(HEADS, touched)}
    seqs = await conn.fetchval(
        "SELECT array(SELECT nextval('audit_log_seq') FROM generate_series(1, $1))",
        len(prepared),
    )
    rows = []
    for row, seq in zip(prepared, seqs, strict=True):
        position, prev = heads[row.chain]
        position += 1
        digest = chain.sharded_digest(prev, row.chain, position, seq, *row.canonical)
        heads[row.chain] = (position, digest)
        values = {
            **row.columns,
            "seq": seq,
            "chain": row.chain,
            "chain_seq": position,
            "prev_hash": prev,
            "row_hash": digest,
        }
        rows.append(tuple(values[c] for c in COLUMNS))
    await conn.copy_records_to_table(
        "audit_log", schema_name="audit", records=rows, columns=list(COLUMNS)
    )
    await conn.execute("RESET ROLE")


def _head(row: Any) -> chain.Head:
    if row["chain_seq"] is not None:
        return row["chain_seq"], row["row_hash"]
    if row["anchor_seq"] is not None:
        return row["anchor_seq"], row["anchor_hash"]
    return 0, row["genesis"] or chain.GENESIS


CHUNK_ROWS = 5_000
"""Rows read per round trip: memory stays bounded by this, not by the length of the log."""
ROW = "seq, chain, chain_seq, event_id, event_type, topic, occurred_at, payload::text AS payload, prev_hash, row_hash"
LEGACY_ROWS = f"SELECT {ROW} FROM audit_log WHERE chain = -1 ORDER BY seq"
SHARDED_ROWS = f"SELECT {ROW} FROM audit_log WHERE chain >= 0 ORDER BY chain, chain_seq"
"""Every chain's rows together, in position order, as the (chain, chain_seq) index holds them."""
LATEST_ANCHORS = (
    "SELECT DISTINCT ON (chain) chain, seq, row_hash, created_at, rows_pruned"
    " FROM audit_anchors ORDER BY chain, seq DESC"
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
    anchors = {
        r["chain"]: chain.Anchor(**dict(r)) for r in await conn.fetch(LATEST_ANCHORS)
    }
    sealed = await conn.fetchrow("SELECT seq, row_hash FROM audit_legacy_seal LIMIT 1")
    verifier = chains.LogVerifier(
        anchors,
        chains.Seal(sealed["seq"], sealed["row_hash"]) if sealed else chains.NO_LEGACY,
    )
    for query in (LEGACY_ROWS, SHARDED_ROWS):
        cursor = await conn.cursor(query)
        while chunk := await cursor.fetch(chunk_rows):
            verifier.feed(map(_chain_row, chunk))
    return verifier.finish()


def _chain_row(r: asyncpg.Record) -> chain.ChainRow:
    legacy = r["chain"] == chain.LEGACY
    return chain.ChainRow(
        seq=r["seq"] if legacy else r["chain_seq"],
        event_id=str(r["event_id"]),
        event_type=r["event_type"],
        topic=r["topic"],
        occurred_at=r["occurred_at"].isoformat(),
        payload=r["payload"],
        prev_hash=r["prev_hash"],
        row_hash=r["row_hash"],
        chain=r["chain"],
        log_seq=None if legacy else r["seq"],
    )
