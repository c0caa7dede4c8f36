"""A dead letter stays under the producer's limit whatever it carries.

A dead letter used to wrap the whole refused record in base64: a record over
about 750 KB made a dead letter larger than the producer allows, and the
relay held ``signpost.deadletter`` for good, so no later dead letter of that
service went out either. Now an original up to ``INLINE_MAX_BYTES`` still
travels inside its letter; a larger one is kept here, in the refusing
consumer's own schema (``dead_letter_bodies``), and the letter carries its
sha256, its size and which schema keeps it. Headers too large to travel are
kept the same way, and the letter carries the short ones only.
"""

import base64
import hashlib
import json
from typing import Any
from uuid import UUID

from signpost.database import Conn

# Base64 makes 256 KiB about 342 KiB: with the reason (2,000 characters) and the
# headers below, a letter stays far under the producer's 1 MiB.
INLINE_MAX_BYTES = 256 * 1024
HEADERS_MAX_BYTES = 16 * 1024
SHOWN_HEADER_MAX_CHARS = 256


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def travels(body: bytes, headers: dict[str, str]) -> bool:
    """Whether the original and its headers fit inside a dead letter."""
    return (
        len(body) <= INLINE_MAX_BYTES
        and len(json.dumps(headers).encode()) <= HEADERS_MAX_BYTES
    )


async def carry(
    conn: Conn,
    dead_letter_id: UUID,
    *,
    topic: str,
    partition: int,
    offset: int,
    body: bytes,
    headers: dict[str, str],
) -> dict[str, Any]:
    """The ``event.dead_lettered`` fields for the original, inside the caller's transaction.

    Small: the bytes in base64, with digest and size. Too large: the bytes (and
    all headers) into this schema's ``dead_letter_bodies``, and the letter says so.
    """
    digest = {"payload_sha256": sha256(body), "payload_bytes": len(body)}
    if travels(body, headers):
        return {
            "payload_base64": base64.b64encode(body).decode(),
            **digest,
            "headers": headers,
        }
    schema: str = await conn.fetchval("SELECT current_schema()")
    await conn.execute(
        "INSERT INTO dead_letter_bodies (dead_letter_id, original_topic, original_partition, original_offset, sha256, size,"
        " body, headers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (dead_letter_id) DO NOTHING",
        dead_letter_id,
        topic,
        partition,
        offset,
        digest["payload_sha256"],
        len(body),
        body,
        json.dumps(headers),
    )
    shown = {
        k: v
        for k, v in list(headers.items())[:32]
        if len(k) + len(v) <= SHOWN_HEADER_MAX_CHARS
    }
    return {
        "payload_base64": None,
        **digest,
        "payload_kept_by": schema,
        "headers": shown,
    }


async def kept(
    conn: Conn, dead_letter_ids: list[UUID]
) -> tuple[bytes, dict[str, str]] | None:
    """The original bytes and headers this schema keeps for any of these dead letters (one record's letters)."""
    row = await conn.fetchrow(
        "SELECT body, headers, sha256 FROM dead_letter_bodies WHERE dead_letter_id = ANY($1::uuid[]) LIMIT 1",
        dead_letter_ids,
    )
    if row is None:
        return None
    body = bytes(row["body"])
    if sha256(body) != row["sha256"]:
        raise ValueError("a kept dead-letter body no longer matches its digest")
    return body, json.loads(row["headers"])
