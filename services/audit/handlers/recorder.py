"""Record every event into the hash-chained audit log, once, in order.

The consumer group ``signpost-audit`` follows every Signpost topic. Each
event's envelope is parsed, made into its row by the pure
``domain.records``, and appended to its chain by ``store.chains``.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from services.audit.domain.records import SeenEvent, prepared
from services.audit.store.chains import append
from signpost import tracing
from signpost.consumer import Incoming
from signpost.database import Conn


def parse(raw: bytes) -> SeenEvent:
    return SeenEvent.model_validate_json(raw)


async def record(conn: Conn, batch: Sequence[Incoming[SeenEvent]]) -> None:
    """Append a batch to the chains of its rows' shards (``store.chains.append``), everything that does not
    depend on a chain's head (provenance, redaction, canonical JSON) worked out first, before any lock."""
    now = datetime.now(UTC)
    await append(
        conn,
        [
            prepared(item.event, item.topic, tracing.trace_id_of(item.headers), now)
            for item in batch
        ],
    )
