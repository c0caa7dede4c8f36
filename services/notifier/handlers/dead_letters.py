"""Dead letters, kept with their original bytes, so that they can be listed by referral and replayed.

Any consumer that cannot handle a record writes it to ``signpost.deadletter``
with the reason. The notifier keeps each one here (replays: ``api/dead_letters.py``).

An original too large to travel in its letter (``signpost.dead_letter_bodies``)
comes by digest and size. When one of the notifier's own consumers refused the
record, it keeps the bytes in its own schema, and they are read here to name
the letter's referral.
"""

import base64
from collections.abc import Sequence

from schemas.events import DeadLettered
from services.notifier.domain.dead_letters import referral_of
from services.notifier.store import dead_letters as store
from signpost import dead_letter_bodies
from signpost.consumer import Incoming
from signpost.database import Conn


async def keep(conn: Conn, batch: Sequence[Incoming[DeadLettered]]) -> None:
    for item in batch:
        letter = item.event
        payload = (
            base64.b64decode(letter.payload_base64)
            if letter.payload_base64 is not None
            else None
        )
        # Kept by this very schema (one of the notifier's own consumers refused it): read here to name its referral.
        own = (
            None
            if payload is not None
            else await dead_letter_bodies.kept(conn, [letter.event_id])
        )
        about = payload if payload is not None else own[0] if own else b""
        await store.keep(conn, letter, payload, referral_of(about))
