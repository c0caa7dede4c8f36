"""The first answer to each X-Request-Id, so a repeated request is answered as it was the first time.

It is stored with the referral itself, in one statement (``referrals.record_submission``).
"""

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
