"""Dead letters, kept with their original bytes: listed by referral and replayed once the cause is fixed.

Any consumer that cannot handle a record writes it to ``signpost.deadletter``
with the reason. The notifier keeps each one here. A replay puts the original
bytes back on the original topic (through the outbox, with a
``signpost-replay-of`` header) and records who asked. The consumers are
idempotent by event id, so a record that was in fact handled before changes
nothing, and a replay is never applied twice.
"""

import base64
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from schemas.events import DeadLettered
from signpost import logs
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import enqueue

log = logs.get_logger()
LISTED = (
    "dead_letter_id, consumer, original_topic, original_partition, original_offset, reason, referral_id,"
    " dead_lettered_at, replayed_at, replayed_by, replays"
)


def _field(payload: bytes, name: str) -> str | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return str(value) if value else None


def _patient_key(payload: bytes) -> str | None:
    return _field(payload, "patient_key")


def referral_of(payload: bytes) -> UUID | None:
    """The referral a dead record was about, when it is JSON that says so (a poison record may be anything)."""
    value = _field(payload, "referral_id")
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


async def keep(conn: Conn, batch: Sequence[Incoming[DeadLettered]]) -> None:
    for item in batch:
        letter = item.event
        payload = base64.b64decode(letter.payload_base64)
        await conn.execute(
            "INSERT INTO dead_letters (dead_letter_id, consumer, original_topic, original_partition, original_offset, reason,"
            " payload, headers, referral_id, dead_lettered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)"
            " ON CONFLICT (dead_letter_id) DO NOTHING",
            letter.event_id, letter.consumer, letter.original_topic, letter.original_partition, letter.original_offset,
            letter.reason, payload, json.dumps(letter.headers), referral_of(payload), letter.occurred_at,
        )  # fmt: skip


async def listed(conn: Conn, referral_id: UUID | None, consumer: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {LISTED} FROM dead_letters WHERE ($1::uuid IS NULL OR referral_id = $1)"
        " AND ($2::text IS NULL OR consumer = $2) ORDER BY dead_lettered_at DESC LIMIT $3",
        referral_id, consumer, limit,
    )  # fmt: skip
    return [_shown(dict(r)) for r in rows]


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """Safe fields only: never the payload, which may name a patient."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, UUID) else v) for k, v in row.items()}


class ReplayRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def replay(conn: Conn, dead_letter_id: UUID, by: str, *, force: bool = False) -> dict[str, Any]:
    """Put the original record back on its topic, once (``force`` to send it again); within the caller's transaction."""
    row = await conn.fetchrow("SELECT * FROM dead_letters WHERE dead_letter_id = $1 FOR UPDATE", dead_letter_id)
    if row is None:
        raise ReplayRefused(404, f"no dead letter {dead_letter_id}")
    if row["replayed_at"] is not None and not force:
        when = f"{row['replayed_at']:%Y-%m-%d %H:%M:%S} UTC"
        raise ReplayRefused(409, f"dead letter {dead_letter_id} was already replayed at {when} by {row['replayed_by']};"
                                 " pass force to send it again")  # fmt: skip
    headers = {**json.loads(row["headers"]), "signpost-replay-of": str(dead_letter_id)}
    # A distinct outbox id per replay, so a forced second replay is sent and the consumers' inbox is what stops it.
    replay_id = UUID(int=(dead_letter_id.int + row["replays"] + 1) % (1 << 128))
    key = _patient_key(bytes(row["payload"]))  # every Signpost event is keyed by its patient key, so order is kept
    await enqueue(conn, topic=row["original_topic"], key=key, event=bytes(row["payload"]), event_id=replay_id, headers=headers)
    updated = await conn.fetchrow(
        f"UPDATE dead_letters SET replayed_at = now(), replayed_by = $2, replays = replays + 1 WHERE dead_letter_id = $1"
        f" RETURNING {LISTED}",
        dead_letter_id, by,
    )  # fmt: skip
    log.info("dead letter replayed", topic=row["original_topic"], consumer=row["consumer"])
    return _shown(dict(updated)) if updated else {}
