"""Record every event into the hash-chained audit log, once, in order.

Audit reads whatever arrives on any Signpost topic, including event types it
does not know yet, so it parses only the envelope. Identifying content (the
referral body with names and NHS number) is replaced by a digest: the log
says what happened to whom by pseudonymous key, never who the patient is.

Only the envelope's writer can vouch for it: a record on an agency's outcomes
topic is that agency's report, bound to no referral or patient, whatever it
says it is (``domain.provenance``).
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.audit.domain import chain, chains, provenance
from services.audit.domain.canonical import canonical_json, canonical_time
from signpost import tracing
from signpost.consumer import Incoming
from signpost.database import Conn

GENESIS = chain.GENESIS
IDENTIFYING_FIELDS = ("referral", "patient", "payload_base64")
CHAIN_LOCK = 0x5167_A0D1
"""The advisory lock namespace of the chains' heads: ``pg_advisory_xact_lock(CHAIN_LOCK, chain)`` (until migration
009, the one lock of the one chain, ``pg_advisory_xact_lock(CHAIN_LOCK)``)."""


class SeenEvent(BaseModel):
    """The envelope fields audit relies on; anything else is kept as payload."""

    model_config = ConfigDict(extra="allow")

    event_id: UUID
    # The contract lets an agency leave ``type`` out of its outcome reports (their topic says what they are).
    type: str | None = None
    referral_id: UUID | None = None
    patient_key: str | None = None
    correlation_id: str | None = None
    occurred_at: datetime | None = None


def parse(raw: bytes) -> SeenEvent:
    return SeenEvent.model_validate_json(raw)


def event_type(event: SeenEvent, topic: str) -> str:
    """What the row is recorded as: the event's own type only where its writer may send it (domain.provenance)."""
    return provenance.classify(topic, event.type).event_type


def agency_of(topic: str, payload: dict[str, Any]) -> str | None:
    """The agency an event concerns: its own topic, or the assignment it carries."""
    if topic.startswith("agency."):
        return topic.split(".")[1]
    if isinstance(payload.get("agency_id"), str):
        return str(payload["agency_id"])
    assignment = payload.get("assignment")
    if isinstance(assignment, dict) and isinstance(assignment.get("agency_id"), str):
        return str(assignment["agency_id"])
    return None


def network_of(payload: dict[str, Any]) -> str | None:
    for holder in (payload, payload.get("assignment") or {}, payload.get("huddle") or {}):
        if isinstance(holder, dict) and isinstance(holder.get("network_id"), str):
            return str(holder["network_id"])
    return None


def redacted_payload(event: SeenEvent) -> dict[str, Any]:
    payload = event.model_dump(mode="json")
    for name in IDENTIFYING_FIELDS:
        if name in payload:
            digest = hashlib.sha256(json.dumps(payload[name], sort_keys=True).encode()).hexdigest()
            payload[name] = {"redacted": True, "sha256": digest}
    return payload


COLUMNS = (
    "seq", "chain", "chain_seq", "event_id", "event_type", "topic", "referral_id", "patient_key", "correlation_id",
    "occurred_at", "recorded_at", "payload", "prev_hash", "row_hash", "agency_id", "network_id", "trace_id",
)  # fmt: skip

HEADS = """
SELECT c AS chain, h.chain_seq, h.row_hash, a.seq AS anchor_seq, a.row_hash AS anchor_hash,
       (SELECT row_hash FROM audit_legacy_seal LIMIT 1) AS genesis
  FROM unnest($1::int4[]) AS c
  LEFT JOIN LATERAL (SELECT chain_seq, row_hash FROM audit_log WHERE chain = c ORDER BY chain_seq DESC LIMIT 1) h ON true
  LEFT JOIN LATERAL (SELECT seq, row_hash FROM audit_anchors WHERE chain = c ORDER BY seq DESC LIMIT 1) a ON true
"""
"""Each chain's head: its last row, else its retention anchor, else the seal every chain starts from."""


@dataclass(frozen=True)
class _Prepared:
    """A row with everything but its place: what can be worked out before any chain's head is locked."""

    chain: int
    event_id: UUID
    canonical: tuple[str, str, str, str, str]
    """Event id, type, topic, time and payload, canonical, as the hash takes them."""
    columns: dict[str, Any]


def _prepared(item: Incoming[SeenEvent], now: datetime) -> _Prepared:
    event = item.event
    # What the record says about itself counts only from a writer allowed to say it (domain.provenance).
    source = provenance.classify(item.topic, event.type)
    event_id = provenance.row_id(item.topic, event.event_id, source)
    body = redacted_payload(event)
    payload = json.dumps(body, sort_keys=True)
    occurred = event.occurred_at or now
    believed = source.believed
    patient_key = event.patient_key if believed else None
    columns = {
        "event_id": event_id, "event_type": source.event_type, "topic": item.topic,
        "referral_id": event.referral_id if believed else None, "patient_key": patient_key,
        "correlation_id": event.correlation_id, "occurred_at": occurred, "recorded_at": now, "payload": payload,
        "agency_id": source.agency_id or agency_of(item.topic, body),
        "network_id": network_of(body) if believed else None, "trace_id": tracing.trace_id_of(item.headers),
    }  # fmt: skip
    canonical = (str(event_id), source.event_type, item.topic, canonical_time(occurred), canonical_json(payload))
    return _Prepared(chains.chain_of(patient_key), event_id, canonical, columns)


async def record(conn: Conn, batch: Sequence[Incoming[SeenEvent]]) -> None:
    """Append a batch to the chains of its rows' shards, holding only those chains' heads.

    Everything that does not depend on a head (provenance, redaction,
    canonical JSON) is done before any lock. The heads are then locked in
    ascending chain order, so two instances whose batches share chains wait
    for each other but never deadlock, and read in a statement of their own:
    at READ COMMITTED (the consumer's transactions) it sees whatever the
    last holder of a head committed. The log-wide seq is drawn after the
    locks, so within a chain seq grows with position. One COPY writes the
    whole batch.
    """
    now = datetime.now(UTC)
    prepared = [_prepared(item, now) for item in batch]
    touched = sorted({p.chain for p in prepared})
    # Extend the chains as a role that may only read and insert (migration 004).
    await conn.execute("SET LOCAL ROLE signpost_audit_writer")
    # One lock per chain, in a fixed order; each ends with the transaction.
    await conn.execute("SELECT pg_advisory_xact_lock($1, c) FROM unnest($2::int4[]) AS c", CHAIN_LOCK, touched)
    heads = {r["chain"]: _head(r) for r in await conn.fetch(HEADS, touched)}
    seqs = await conn.fetchval("SELECT array(SELECT nextval('audit_log_seq') FROM generate_series(1, $1))", len(prepared))
    rows = []
    for row, seq in zip(prepared, seqs, strict=True):
        position, prev = heads[row.chain]
        position += 1
        digest = chain.sharded_digest(prev, row.chain, position, seq, *row.canonical)
        heads[row.chain] = (position, digest)
        values = {**row.columns, "seq": seq, "chain": row.chain, "chain_seq": position, "prev_hash": prev, "row_hash": digest}
        rows.append(tuple(values[c] for c in COLUMNS))
    await conn.copy_records_to_table("audit_log", schema_name="audit", records=rows, columns=list(COLUMNS))
    await conn.execute("RESET ROLE")


def _head(row: Any) -> chain.Head:
    if row["chain_seq"] is not None:
        return row["chain_seq"], row["row_hash"]
    if row["anchor_seq"] is not None:
        return row["anchor_seq"], row["anchor_hash"]
    return 0, row["genesis"] or chain.GENESIS
