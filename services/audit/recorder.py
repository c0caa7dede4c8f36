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
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.audit.domain import chain, provenance
from signpost import tracing
from signpost.consumer import Incoming
from signpost.database import Conn

GENESIS = chain.GENESIS
IDENTIFYING_FIELDS = ("referral", "patient", "payload_base64")
CHAIN_LOCK = 0x5167_A0D1


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
    "seq", "event_id", "event_type", "topic", "referral_id", "patient_key", "correlation_id",
    "occurred_at", "recorded_at", "payload", "prev_hash", "row_hash", "agency_id", "network_id", "trace_id",
)  # fmt: skip


async def record(conn: Conn, batch: Sequence[Incoming[SeenEvent]]) -> None:
    # One writer at a time extends the chain; the lock ends with the transaction.
    await conn.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
    # Extend the chain as a role that may only read and insert (migration 004).
    await conn.execute("SET LOCAL ROLE signpost_audit_writer")
    last = await conn.fetchrow("SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1") or await conn.fetchrow(
        "SELECT seq, row_hash FROM audit_anchors ORDER BY seq DESC LIMIT 1"
    )
    seq, prev = (last["seq"], last["row_hash"]) if last else (0, GENESIS)
    now = datetime.now(UTC)
    rows = []
    for item in batch:
        seq += 1
        event = item.event
        # What the record says about itself counts only from a writer allowed to say it (domain.provenance).
        source = provenance.classify(item.topic, event.type)
        kind = source.event_type
        event_id = provenance.row_id(item.topic, event.event_id, source)
        body = redacted_payload(event)
        payload = json.dumps(body, sort_keys=True)
        occurred = event.occurred_at or now
        row_hash = chain.row_hash(prev, seq, event_id, kind, item.topic, occurred, payload)
        believed = source.believed
        row = {
            "seq": seq, "event_id": event_id, "event_type": kind, "topic": item.topic,
            "referral_id": event.referral_id if believed else None, "patient_key": event.patient_key if believed else None,
            "correlation_id": event.correlation_id, "occurred_at": occurred, "recorded_at": now, "payload": payload,
            "prev_hash": prev, "row_hash": row_hash, "agency_id": source.agency_id or agency_of(item.topic, body),
            "network_id": network_of(body) if believed else None, "trace_id": tracing.trace_id_of(item.headers),
        }  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS))
        prev = row_hash
    await conn.copy_records_to_table("audit_log", schema_name="audit", records=rows, columns=list(COLUMNS))
    await conn.execute("RESET ROLE")
