"""The live audit stream's order and limits: where a client resumes, how many streams it may hold, when one must end.

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

Limits. A stream is authenticated once, at connect, and may then run for
days. So it ends at its token's ``exp`` (the client reconnects with a fresh
token and ``Last-Event-ID``, missing nothing), and as soon as the client is
removed from the registry or re-keyed. The decisions are plain functions;
the stream endpoint in ``services/audit/api.py`` does the I/O.
"""

import collections
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge

from services.audit import queries
from signpost.auth import Client, revocation
from signpost.database import Conn

OPEN = Gauge("signpost_audit_streams_open", "Live audit streams open on this instance")
ENDED = Counter("signpost_audit_streams_ended_total", "Live audit streams the service ended, and why", ["reason"])
REFUSED = Counter("signpost_audit_streams_refused_total", "Live audit streams refused with 429 over a cap")

RETRY_AFTER_S = 5
"""A refused stream is worth retrying soon: a page that reconnects may find its old stream not yet noticed gone."""


@dataclass(frozen=True)
class LiveStreams:
    """The live streams' own small pool and their caps, built at wiring and read by the stream route."""

    pool: asyncpg.Pool
    slots: "StreamSlots"


@dataclass
class StreamSlots:
    """The streams open on this instance, by client. Per instance: several instances each allow as many."""

    per_client: int
    total: int
    held: collections.Counter[str] = field(default_factory=collections.Counter)

    def take(self, client_id: str) -> str | None:
        """Hold a slot for ``client_id``, or say why not (the caller answers 429)."""
        if self.held[client_id] >= self.per_client:
            REFUSED.inc()
            return f"this client already has {self.held[client_id]} live streams open, the most it may hold"
        if sum(self.held.values()) >= self.total:
            REFUSED.inc()
            return "the audit service has as many live streams open as it serves; try again shortly"
        self.held[client_id] += 1
        OPEN.inc()
        return None

    def give_back(self, client_id: str) -> None:
        OPEN.dec()
        self.held[client_id] -= 1
        if self.held[client_id] <= 0:
            del self.held[client_id]


def reason_to_end(now: float, expires_at: float, connected: Client, registry: dict[str, Client] | None) -> str | None:
    """Why an open stream must end now, or ``None``. ``registry`` is ``None`` between re-checks."""
    if now >= expires_at:
        return "the token expired"
    if registry is not None:
        return revocation(connected, registry)
    return None


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
    row = await conn.fetchrow("SELECT tx::text::bigint AS tx, seq FROM audit_log WHERE seq = $1", seq)
    if row:
        return Cursor(row["tx"], row["seq"])
    later = await conn.fetchrow("SELECT tx::text::bigint AS tx, seq FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1", seq)
    return Cursor(later["tx"], later["seq"] - 1) if later else await end(conn)


async def page(conn: Conn, filters: queries.Filters, cursor: Cursor, limit: int) -> list[tuple[Cursor, dict[str, Any]]]:
    """The next rows after ``cursor`` that match ``filters``, in stream order, each with its own cursor."""
    where, args = filters.where(start=4)
    rows = await conn.fetch(
        f"SELECT tx::text::bigint AS stream_tx, {queries.COLUMNS} FROM audit_log"
        f" WHERE (tx, seq) > ($1::text::xid8, $2) AND {HORIZON} AND {where} ORDER BY tx, seq LIMIT $3",
        str(cursor.tx), cursor.seq, limit, *args,
    )  # fmt: skip
    return [(Cursor(r["stream_tx"], r["seq"]), queries.shape(r)) for r in rows]
