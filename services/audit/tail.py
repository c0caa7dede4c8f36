"""``signpost audit tail``: the live audit stream in a terminal.

Reads the audit service's server-sent events and prints one line per event.
When the connection drops it reconnects with ``Last-Event-ID``, so the
terminal misses nothing and shows nothing twice.
"""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

RECONNECT_S = (0.5, 1.0, 2.0, 5.0)


@dataclass
class SseEvent:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Server-sent events from text lines (WHATWG rules; comments and pings skipped)."""
    current = SseEvent()
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if current.data:
                yield current
            current = SseEvent()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data.append(value)


def line_of(event: SseEvent) -> str:
    """One readable line: when it was recorded, what happened, to which referral, for which agency."""
    row: dict[str, Any] = json.loads("\n".join(event.data))
    parts = [
        f"#{row.get('seq')}",
        str(row.get("recorded_at", ""))[:23],
        f"{row.get('event_type', event.event or '?'):<24}",
        f"referral {row['referral_id']}" if row.get("referral_id") else "",
        f"agency {row['agency_id']}" if row.get("agency_id") else "",
    ]
    return "  ".join(p for p in parts if p)


def follow(
    url: str,
    token: str,
    params: dict[str, Any],
    emit: Callable[[str], None],
    *,
    last_event_id: str | None = None,
    max_events: int | None = None,
) -> str | None:
    """Print events until ``max_events`` (or forever); return the last event id seen."""
    shown = 0
    attempt = 0
    while max_events is None or shown < max_events:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            timeout = httpx.Timeout(10, read=60)  # the server pings every 15 s; a silent minute means a dead link
            with httpx.stream("GET", f"{url}/v1/audit/stream", params=params, headers=headers, timeout=timeout) as r:
                if r.status_code in (401, 403):
                    raise PermissionError(f"the audit service refused the token ({r.status_code})")
                r.raise_for_status()
                attempt = 0
                for event in parse_sse(r.iter_lines()):
                    emit(line_of(event))
                    last_event_id, shown = event.id or last_event_id, shown + 1
                    if max_events is not None and shown >= max_events:
                        break
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            wait = RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)]
            emit(f"-- disconnected ({type(exc).__name__}); resuming after #{last_event_id or 'now'} in {wait:.1f}s")
            time.sleep(wait)
            attempt += 1
    return last_event_id
