"""An event as the audit log will record it, worked out before it has a place in any chain.

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
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.audit.domain import chains, provenance
from services.audit.domain.canonical import canonical_json, canonical_time

IDENTIFYING_FIELDS = ("referral", "patient", "payload_base64")


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


@dataclass(frozen=True)
class Prepared:
    """A row with everything but its place: what can be worked out before any chain's head is locked."""

    chain: int
    event_id: UUID
    canonical: tuple[str, str, str, str, str]
    """Event id, type, topic, time and payload, canonical, as the hash takes them."""
    columns: dict[str, Any]


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
    for holder in (
        payload,
        payload.get("assignment") or {},
        payload.get("huddle") or {},
    ):
        if isinstance(holder, dict) and isinstance(holder.get("network_id"), str):
            return str(holder["network_id"])
    return None


def redacted_payload(event: SeenEvent) -> dict[str, Any]:
    payload = event.model_dump(mode="json")
    for name in IDENTIFYING_FIELDS:
        if name in payload:
            digest = hashlib.sha256(
                json.dumps(payload[name], sort_keys=True).encode()
            ).hexdigest()
            payload[name] = {"redacted": True, "sha256": digest}
    return payload


def prepared(
    event: SeenEvent, topic: str, trace_id: str | None, now: datetime
) -> Prepared:
    """The row an event becomes, all but its place in a chain: provenance, redaction and canonical form."""
    # What the record says about itself counts only from a writer allowed to say it (domain.provenance).
    source = provenance.classify(topic, event.type)
    event_id = provenance.row_id(topic, event.event_id, source)
    body = redacted_payload(event)
    payload = json.dumps(body, sort_keys=True)
    occurred = event.occurred_at or now
    believed = source.believed
    patient_key = event.patient_key if believed else None
    columns = {
        "event_id": event_id,
        "event_type": source.event_type,
        "topic": topic,
        "referral_id": event.referral_id if believed else None,
        "patient_key": patient_key,
        "correlation_id": event.correlation_id,
        "occurred_at": occurred,
        "recorded_at": now,
        "payload": payload,
        "agency_id": source.agency_id or agency_of(topic, body),
        "network_id": network_of(body) if believed else None,
        "trace_id": trace_id,
    }
    canonical = (
        str(event_id),
        source.event_type,
        topic,
        canonical_time(occurred),
        canonical_json(payload),
    )
    return Prepared(chains.chain_of(patient_key), event_id, canonical, columns)
