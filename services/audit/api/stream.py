"""Audit's live stream over HTTP: server-sent events of the log as it grows, resumable by ``Last-Event-ID``.

Operations staff see everything; an agency sees only events about its own
assignments. Opening a stream is recorded as an access event.

A stream is authenticated once, at connect, and may then run for
days. So it ends at its token's ``exp`` (the client reconnects with a fresh
token and ``Last-Event-ID``, missing nothing), and as soon as the client is
removed from the registry or re-keyed (``domain/streams.reason_to_end``, a plain function).
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, HTTPException, Query, Request
from sse_starlette import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from services.audit.api.trails import MAX_SEQ, agency_scope, runtime_of
from services.audit.domain.streams import (
    ENDED,
    RETRY_AFTER_S,
    StreamSlots,
    reason_to_end,
)
from services.audit.store import stream as stream_order
from services.audit.store.log import Filters
from signpost import logs
from signpost.access import record_access
from signpost.auth import Authenticated, registry_for
from signpost.rate_limit import RateLimited

router = APIRouter(prefix="/v1")
log = logs.get_logger()
STREAM_POLL_S = 0.25


@dataclass(frozen=True)
class LiveStreams:
    """The live streams' own small pool and their caps, built at wiring and read by the stream route."""

    pool: asyncpg.Pool
    slots: StreamSlots


@router.get("/audit/stream", tags=["audit"])
async def stream(
    request: Request,
    principal: Authenticated,
    agency: str | None = None,
    network: str | None = None,
    event_type: Annotated[list[str] | None, Query()] = None,
    after_seq: int | None = Query(default=None, ge=0, le=MAX_SEQ),
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-sent events, live. Reconnect with Last-Event-ID to resume where you left off.

    The stream ends at the token's expiry (and if the client is revoked): reconnect with a fresh token
    and Last-Event-ID. A client may hold only a few streams at once; one more is refused with 429.
    """
    filters = Filters(
        agency_id=agency_scope(principal, agency),
        network_id=network,
        event_types=tuple(event_type or ()),
    )
    runtime = runtime_of(request)
    settings = runtime.settings
    expires_at: float = request.state.token_expires_at
    if time.time() >= expires_at:
        # Other endpoints allow the token half a minute of clock skew; a stream would end as soon as it began.
        raise HTTPException(
            401,
            "the token has expired",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    connected = registry_for(request).get(principal.client_id)
    if connected is None:  # revoked between the token check and here
        raise HTTPException(
            401,
            "the client is no longer registered",
            headers={"WWW-Authenticate": "Bearer"},
        )
    streams = runtime.part(LiveStreams)
    refusal = streams.slots.take(principal.client_id)
    if refusal:
        raise RateLimited(RETRY_AFTER_S, refusal)
    # The live streams read through a pool of their own, never the one the recorder writes with.
    try:
        # Rows are shown in the stream's own order (services/audit/store/stream.py); an id is a row's seq.
        resume = (
            int(last_event_id)
            if last_event_id and last_event_id.isdigit()
            else after_seq
        )
        async with streams.pool.acquire() as conn:
            start = await stream_order.after(conn, resume)
        async with runtime.pool.acquire() as conn:
            await record_access(
                conn,
                producer="audit",
                principal=principal,
                function="watch audit stream",
                correlation_id=request.state.correlation_id,
                granted=True,
            )
    except BaseException:
        streams.slots.give_back(principal.client_id)
        raise

    async def events() -> AsyncIterator[dict[str, Any] | ServerSentEvent]:
        # An id and no data first: the client's resume point even if the link drops before any event
        # arrives. Without it, reconnecting would start at the log's end then, and miss what came between.
        yield ServerSentEvent(id=str(start.seq), comment="stream start")
        seen = start
        recheck_at = time.monotonic() + settings.audit_stream_recheck_s
        while not await request.is_disconnected():
            registry = None
            if time.monotonic() >= recheck_at:
                registry, recheck_at = (
                    registry_for(request),
                    time.monotonic() + settings.audit_stream_recheck_s,
                )
            reason = reason_to_end(time.time(), expires_at, connected, registry)
            if reason:
                log.info(
                    "audit stream closed", client_id=principal.client_id, reason=reason
                )
                ENDED.labels(reason).inc()
                yield ServerSentEvent(
                    comment=f"stream closed: {reason}; reconnect with a fresh token and Last-Event-ID"
                )
                return
            async with streams.pool.acquire() as conn:
                rows = await stream_order.page(conn, filters, seen, 200)
            for cursor, row in rows:
                seen = cursor
                yield {
                    "id": str(row["seq"]),
                    "event": row["event_type"],
                    "data": json.dumps(row),
                }
            if not rows:
                await asyncio.sleep(
                    min(STREAM_POLL_S, max(0.0, expires_at - time.time()))
                )

    return _HeldStream(
        events(), release=lambda: streams.slots.give_back(principal.client_id), ping=15
    )


class _HeldStream(EventSourceResponse):
    """Gives the stream's slot back however the response ends: finished, cut off by a hang-up, or failed."""

    def __init__(
        self, content: AsyncIterator[Any], release: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
