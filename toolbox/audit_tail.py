"""``signpost audit tail``: the live audit stream in a terminal.

Reads the audit service's server-sent events and prints one line per event.
When the connection drops, or the server ends the stream, it reconnects with
``Last-Event-ID``, so the terminal misses nothing and shows nothing twice.
Parsing and the printed line are pure; only ``follow`` does I/O.
"""

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

RECONNECT_S = (0.5, 1.0, 2.0, 5.0)
"""Waits before successive reconnection attempts; the last repeats while the service stays away."""
READ_TIMEOUT_S = 60.0
"""The server pings every 15 s, so a silent minute means a dead link, not a quiet log."""
MAX_RETRY_AFTER_S = 60


@dataclass
class SseEvent:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Server-sent events from text lines, by the WHATWG rules.

    Comments (the server's pings) are skipped. A block with an ``id`` but no
    data is yielded too, with empty ``data``: it moves the resume point
    without anything to show. A block the stream cut off before its blank
    line is not yielded; the server sends it again after a reconnect.
    """
    current = SseEvent()
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if current.data or current.id is not None:
                yield current
            current = SseEvent()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id" and "\0" not in value:
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data.append(value)


def line_of(event: SseEvent) -> str:
    """One readable line: seq, when it was recorded, what happened, to which referral, for which agency.

    Deliberately nothing from the payload: a terminal's scrollback is no place for more than the trail's keys.
    """
    row: dict[str, Any] = json.loads("\n".join(event.data))
    parts = [
        f"#{row.get('seq')}",
        _when(row.get("recorded_at")),
        f"{row.get('event_type', event.event or '?'):<24}",
        f"referral {row['referral_id']}" if row.get("referral_id") else "",
        f"agency {row['agency_id']}" if row.get("agency_id") else "",
    ]
    return "  ".join(p for p in parts if p)


def _when(recorded_at: object) -> str:
    """UTC to the millisecond, the same width whatever the offset or precision the service sent."""
    try:
        at = datetime.fromisoformat(str(recorded_at)).astimezone(UTC)
    except ValueError:
        return str(recorded_at or "?")
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def wait_before_retry(attempt: int, retry_after: str | None) -> float:
    """How long to wait before reconnecting: the service's ``Retry-After`` when it gave one (at most a minute),
    else the backoff for this attempt."""
    if retry_after and retry_after.strip().isdigit():
        return float(min(int(retry_after), MAX_RETRY_AFTER_S))
    return RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)]


def refusal(status: int, body: bytes, last_event_id: str | None) -> str:
    """Why the token was refused, in the service's words, and how to carry on from where the tail stopped."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    resume = f"; resume with --since-id {last_event_id}" if last_event_id else ""
    return f"the audit service refused the token ({status}: {detail or 'no reason given'}){resume}"


def follow(
    url: str,
    token: Callable[[], str],
    params: dict[str, Any],
    emit: Callable[[str], None],
    *,
    last_event_id: str | None = None,
    max_events: int | None = None,
) -> str | None:
    """Print events until ``max_events`` (or forever); return the last event id seen.

    ``token`` is asked for a token at every connection: a development token
    lasts minutes and a tail may run for days, and the service ends each
    stream when its token expires. ``PermissionError`` when the service
    refuses a token (an expired ``SIGNPOST_TOKEN``, say), naming the id to
    resume from.
    """
    shown = 0
    attempt = 0
    while max_events is None or shown < max_events:
        retry_after: str | None = None
        headers = {"Authorization": f"Bearer {token()}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            timeout = httpx.Timeout(10, read=READ_TIMEOUT_S)
            with httpx.stream(
                "GET",
                f"{url}/v1/audit/stream",
                params=params,
                headers=headers,
                timeout=timeout,
            ) as response:
                if response.status_code in (401, 403):
                    raise PermissionError(
                        refusal(response.status_code, response.read(), last_event_id)
                    )
                # Over this client's stream or request limit: the service says when to come back.
                retry_after = (
                    response.headers.get("Retry-After")
                    if response.status_code == 429
                    else None
                )
                response.raise_for_status()
                attempt = 0
                for event in parse_sse(response.iter_lines()):
                    last_event_id = event.id or last_event_id
                    if event.data:
                        emit(line_of(event))
                        shown += 1
                    if max_events is not None and shown >= max_events:
                        return last_event_id
            reason = "the service ended the stream"
        except httpx.HTTPStatusError as exc:
            reason = f"HTTP {exc.response.status_code}"
        except httpx.TransportError as exc:
            reason = type(exc).__name__
        wait = wait_before_retry(attempt, retry_after)
        emit(
            f"-- disconnected ({reason}); resuming after #{last_event_id or 'now'} in {wait:.1f}s"
        )
        time.sleep(
            wait
        )  # a pause before reconnecting, so a service that is down is not hammered
        attempt += 1
    return last_event_id
