"""The first answer to each X-Request-Id, so a repeated request is answered as it was the first time."""

import json

import asyncpg

from signpost.database import Conn


async def find_replay(
    conn: Conn, client_id: str, request_id: str
) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        "SELECT body_hash, status_code, response FROM idempotency_keys WHERE client_id = $1 AND request_id = $2",
        client_id,
        request_id,
    )
    return record


async def remember_answer(
    conn: Conn,
    client_id: str,
    request_id: str,
    body_hash: str,
    status_code: int,
    response: dict[str, object],
) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (client_id, request_id, body_hash, status_code, response) VALUES ($1, $2, $3, $4, $5)",
        client_id,
        request_id,
        body_hash,
        status_code,
        json.dumps(response),
    )
