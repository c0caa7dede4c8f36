"""Read the audit log: filters, pagination by sequence number, row shaping."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from signpost.database import Conn

COLUMNS = (
    "seq, event_id, event_type, topic, referral_id, patient_key, agency_id, network_id, correlation_id,"
    " occurred_at, recorded_at, payload, row_hash, trace_id"
)


@dataclass(frozen=True)
class Filters:
    referral_id: UUID | None = None
    patient_key: str | None = None
    patient_keys: tuple[str, ...] = ()
    agency_id: str | None = None
    network_id: str | None = None
    event_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def where(self, start: int = 1) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.format(n=start + len(args) - 1))

        if self.referral_id:
            add("referral_id = ${n}", self.referral_id)
        if self.patient_key:
            add("patient_key = ${n}", self.patient_key)
        if self.patient_keys:
            add("patient_key = ANY(${n}::text[])", list(self.patient_keys))
        if self.agency_id:
            add("agency_id = ${n}", self.agency_id)
        if self.network_id:
            add("network_id = ${n}", self.network_id)
        if self.event_types:
            add("event_type = ANY(${n}::text[])", list(self.event_types))
        if self.since:
            add("recorded_at >= ${n}", self.since)
        if self.until:
            add("recorded_at < ${n}", self.until)
        return (" AND ".join(clauses) or "TRUE"), args


def shape(row: Any) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "topic": row["topic"],
        "referral_id": str(row["referral_id"]) if row["referral_id"] else None,
        "patient_key": row["patient_key"],
        "agency_id": row["agency_id"],
        "network_id": row["network_id"],
        "correlation_id": row["correlation_id"],
        "occurred_at": row["occurred_at"].isoformat() if row["occurred_at"] else None,
        "recorded_at": row["recorded_at"].isoformat(),
        "payload": json.loads(row["payload"]),
        "row_hash": row["row_hash"],
        "trace_id": row["trace_id"],
    }


async def page(
    conn: Conn, filters: Filters, after_seq: int, limit: int
) -> list[dict[str, Any]]:
    where, args = filters.where(start=3)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND {where} ORDER BY seq LIMIT $2",
        after_seq,
        limit,
        *args,
    )
    return [shape(r) for r in rows]


# Only intake may write referral.submitted (its topic's ACL and domain.provenance), so only its word links patients.
_LINKS = (
    "SELECT patient_key, payload -> 'linked_patient_keys' AS linked FROM audit_log"
    " WHERE event_type = 'referral.submitted' AND topic = 'referral.submitted' AND patient_key IS NOT NULL"
    " AND payload -> 'linked_patient_keys' <> '[]'::jsonb"
    " AND (patient_key = ANY($1::text[]) OR payload -> 'linked_patient_keys' ?| $1::text[])"
)
MAX_LINKED_KEYS = 32


async def linked_keys(conn: Conn, patient_key: str) -> list[str]:
    """The patient's key and every key intake linked to it, directly or through another (README, "How patients are matched").

    A traced referral names the untraced key it stands for in ``linked_patient_keys``; following those
    both ways joins an untraced patient's trail to the traced one's. Bounded, so a key that many
    others name (which intake never makes) cannot turn one request into a walk of the whole log.
    """
    found, frontier = {patient_key}, {patient_key}
    while frontier and len(found) < MAX_LINKED_KEYS:
        rows = await conn.fetch(_LINKS, sorted(frontier))
        reached = {r["patient_key"] for r in rows} | {
            k for r in rows for k in json.loads(r["linked"]) if isinstance(k, str)
        }
        frontier = reached - found
        found |= reached
    return sorted(found)


async def patient_key_of(conn: Conn, referral_id: UUID) -> str | None:
    """The key a referral was submitted under, as intake's own event said."""
    key: str | None = await conn.fetchval(
        "SELECT patient_key FROM audit_log WHERE referral_id = $1 AND patient_key IS NOT NULL ORDER BY seq LIMIT 1",
        referral_id,
    )
    return key


async def last_seq(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_log"))
