"""The live audit stream's limits: how many streams a client may hold on an instance, how many in all, and when one must end.

Its order (where a client resumes) is ``store/stream.py``'s; the I/O is the
stream endpoint's (``services/audit/api/stream.py``).
"""

import collections
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from signpost.clients import Client, revocation

OPEN = Gauge("signpost_audit_streams_open", "Live audit streams open on this instance")
ENDED = Counter(
    "signpost_audit_streams_ended_total",
    "Live audit streams the service ended, and why",
    ["reason"],
)
REFUSED = Counter(
    "signpost_audit_streams_refused_total",
    "Live audit streams refused with 429 over a cap",
)

RETRY_AFTER_S = 5
"""A refused stream is worth retrying soon: a page that reconnects may find its old stream not yet noticed gone."""


@dataclass
class StreamSlots:
    """The streams open on this instance, by client. Per instance: several instances each allow as many."""

    per_client: int
    total: int
    held: collections.Counter[str] = field(default_factory=collections.Counter)

    def take(self, client_id: str) -> str | None:
        """Hold a slot for ``client_id``, or say why not (the caller answers 429)."""
        if self.held[client_id] >= self.per_client:
            REFUSED.inc()
            return f"this client already has {self.held[client_id]} live streams open, the most it may hold"
        if sum(self.held.values()) >= self.total:
            REFUSED.inc()
            return "the audit service has as many live streams open as it serves; try again shortly"
        self.held[client_id] += 1
        OPEN.inc()
        return None

    def give_back(self, client_id: str) -> None:
        OPEN.dec()
        self.held[client_id] -= 1
        if self.held[client_id] <= 0:
            del self.held[client_id]


def reason_to_end(
    now: float, expires_at: float, connected: Client, registry: dict[str, Client] | None
) -> str | None:
    """Why an open stream must end now, or ``None``. ``registry`` is ``None`` between re-checks."""
    if now >= expires_at:
        return "the token expired"
    if registry is not None:
        return revocation(connected, registry)
    return None
