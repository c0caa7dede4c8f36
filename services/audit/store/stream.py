"""The live audit stream's order: where a client resumes, and which rows it is shown next.

Order. Audit instances append to their chains in parallel, so the log-wide
``seq`` is drawn before a transaction commits and rows become visible out of
seq order: a client that resumed after seq 101 could miss a seq 100 that
committed later. The stream shows rows in (writing transaction, seq) order
instead, and only rows of transactions older than every transaction still
running (``pg_snapshot_xmin``): the set of such rows only grows at its end,
so the order is total, never changes behind a client, and misses nothing.
The cost is that the stream waits for the oldest running transaction to
end; audit's own transactions last one batch. A client still holds a plain
seq as its id (``Last-Event-ID``); the stream looks up where that row
stands. Rows recorded before audit migration 009 have transaction 0 and
come first, in seq order.
"""

from dataclasses import dataclass
from typing import Any

from services.audit.store import log
from signpost.database import Conn

HORIZON = "tx < (SELECT pg_snapshot_xmin(pg_current_snapshot()))"
"""Rows whose transaction is older than every one still running: final, and all there."""


@dataclass(frozen=True, order=True)
class Cursor:
    """A place in the stream: after the row written by transaction ``tx`` with log seq ``seq``."""

    tx: int
    seq: int


BEGINNING = Cursor(0, 0)


async def end(conn: Conn) -> Cursor:
    """After the last row a client can be shown now (the beginning for an empty log)."""
    row = await conn.fetchrow(
        f"SELECT tx::text::bigint AS tx, seq FROM audit_log WHERE {HORIZON} ORDER BY tx DESC, seq DESC LIMIT 1"
    )
    return Cursor(row["tx"], row["seq"]) if row else BEGINNING


async def after(conn: Conn, seq: int | None) -> Cursor:
    """Where a client that was last shown row ``seq`` resumes (``None``: from now on).

    An id that names no row (a row retention pruned, or a number the client
    made up) resumes before the first row with a higher seq, or at the end.
    """
    if seq is None:
        return await end(conn)
    row = await conn.fetchrow(
        "SELECT tx::text::bigint AS tx, seq FROM audit_log WHERE seq = $1", seq
    )
    if row:
        return Cursor(row["tx"], row["seq"])
    later = await conn.fetchrow(
        "SELECT tx::text::bigint AS tx, seq FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1",
        seq,
    )
    return Cursor(later["tx"], later["seq"] - 1) if later else await end(conn)


async def page(
    conn: Conn, filters: log.Filters, cursor: Cursor, limit: int
) -> list[tuple[Cursor, dict[str, Any]]]:
    """The next rows after ``cursor`` that match ``filters``, in stream order, each with its own cursor."""
    where, args = filters.where(start=4)
    rows = await conn.fetch(
        f"SELECT tx::text::bigint AS stream_tx, {log.COLUMNS} FROM audit_log"
        f" WHERE (tx, seq) > ($1::text::xid8, $2) AND {HORIZON} AND {where} ORDER BY tx, seq LIMIT $3",
        str(cursor.tx),
        cursor.seq,
        limit,
        *args,
    )
    return [(Cursor(r["stream_tx"], r["seq"]), log.shape(r)) for r in rows]
