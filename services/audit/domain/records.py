"""An event as the audit log will record it, worked out before it has a place in any chain."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Prepared:
    """A row with everything but its place: what can be worked out before any chain's head is locked."""

    chain: int
    event_id: UUID
    canonical: tuple[str, str, str, str, str]
    """Event id, type, topic, time and payload, canonical, as the hash takes them."""
    columns: dict[str, Any]
