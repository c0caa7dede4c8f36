"""Audit's HTTP API: trails, searches, who-viewed reports and the live stream.

Operations staff see everything; an agency sees only events about its own
assignments; referrers use intake. Every query is itself recorded as an
access event.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from schemas.nhs_number import is_valid_nhs_number
from services.audit import live
from services.audit.store import log as audit_log
from services.audit.store import stream as stream_order
from services.audit.store.log import Filters
from signpost import logs
from signpost.access import record_access
from signpost.auth import Authenticated, Principal, registry_for
from signpost.http import problem
from signpost.pseudonym import patient_key
from signpost.rate_limit import RateLimited
from signpost.service import Runtime

router = APIRouter(prefix="/v1")
log = logs.get_logger()
STREAM_POLL_S = 0.25
# The log's seq is a PostgreSQL bigint: a larger after_seq is refused as bad input, not sent to the database.
MAX_SEQ = 2**63 - 1


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _scope(principal: Principal, agency: str | None) -> str | None:
    """The agency filter a caller may use: operations any, an agency only its own."""
    if principal.role == "operations":
        return agency
    if principal.role == "agency" and principal.agency_id and agency in (None, principal.agency_id):
        return principal.agency_id
    raise HTTPException(403, "the audit log is open to operations staff, and to agencies for their own assignments")


async def _audited_page(
    request: Request,
    principal: Principal,
    filters: Filters,
    after_seq: int,
    limit: int,
    function: str,
    referral_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A page of the log, recorded as an access. A patient's page covers every key intake linked to theirs."""
    runtime = _runtime(request)
    linked: list[str] = []
    async with runtime.pool.acquire() as conn, conn.transaction():
        if filters.patient_key:
            linked = await audit_log.linked_keys(conn, filters.patient_key)
        shown = replace(filters, patient_key=None, patient_keys=tuple(linked)) if linked else filters
        events = await audit_log.page(conn, shown, after_seq, limit)
        await record_access(
            conn,
            producer="audit",
            principal=principal,
            function=function,
            correlation_id=request.state.correlation_id,
            granted=True,
            referral_id=filters.referral_id or referral_id,
            patient_key=filters.patient_key,
        )
    body: dict[str, Any] = {"events": events, "next_after_seq": events[-1]["seq"] if len(events) == limit else None}
    if len(linked) > 1:
        body["patient_keys"] = linked
    return body


@dataclass(frozen=True)
class Paging:
    limit: int
    after_seq: int


def _paging(limit: int = Query(default=100, ge=1, le=1000), after_seq: int = Query(default=0, ge=0, le=MAX_SEQ)) -> Paging:
    return Paging(limit, after_seq)


Paged = Annotated[Paging, Depends(_paging)]


@router.get("/referrals/{referral_id}/audit", tags=["audit"])
async def referral_trail(referral_id: uuid.UUID, request: Request, principal: Authenticated, paging: Paged) -> JSONResponse:
    """Every event recorded for one referral, oldest first, paginated by sequence number."""
    agency = _scope(principal, None)
    filters = Filters(referral_id=referral_id, agency_id=agency)
    body = await _audited_page(request, principal, filters, paging.after_seq, paging.limit, "read audit trail")
    if not body["events"] and paging.after_seq == 0:
        return problem(404, "Not Found", "no audit records for that referral")
    return JSONResponse({"referral_id": str(referral_id), **body})


@router.get("/referrals/{referral_id}/patient-trail", tags=["audit"])
async def patient_trail(referral_id: uuid.UUID, request: Request, principal: Authenticated, paging: Paged) -> JSONResponse:
    """Every event of the referral's patient, oldest first: its own key's and every key intake linked to it.

    So the trail of a referral made before the patient was traced joins the traced referrals' trails,
    and the other way round. For operations staff only: it crosses referrals and agencies.
    """
    if principal.role != "operations":
        return problem(403, "Forbidden", "the patient trail is for operations staff")
    async with _runtime(request).pool.acquire() as conn:
        key = await audit_log.patient_key_of(conn, referral_id)
    if key is None:
        return problem(404, "Not Found", "no audit records for that referral")
    filters = Filters(patient_key=key)
    body = await _audited_page(
        request, principal, filters, paging.after_seq, paging.limit, "read patient trail", referral_id=referral_id
    )
    return JSONResponse({"referral_id": str(referral_id), "patient_keys": body.pop("patient_keys", [key]), **body})


class Search(BaseModel):
    """Search the log. The NHS number travels in the body, never in a URL."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str | None = Field(default=None, pattern=r"^\d{10}$")
    referral_id: uuid.UUID | None = None
    agency_id: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,64}$")
    network_id: str | None = Field(default=None, max_length=64)
    event_types: list[str] = Field(default_factory=list, max_length=20)
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    limit: int = Field(default=100, ge=1, le=1000)


def _patient(request: Request, nhs_number: str | None) -> str | None:
    if nhs_number is None:
        return None
    if not is_valid_nhs_number(nhs_number):
        raise HTTPException(422, "nhs_number fails the modulus 11 check")
    secret = _runtime(request).settings.pseudonym_key.get_secret_value().encode()
    return patient_key(secret, nhs_number=nhs_number, local_id=None, organisation="")


@router.post("/audit/search", tags=["audit"])
async def search(body: Search, request: Request, principal: Authenticated) -> JSONResponse:
    """The trail by patient, referral, agency, network, event type or time range, paginated."""
    filters = Filters(
        referral_id=body.referral_id,
        patient_key=_patient(request, body.nhs_number),
        agency_id=_scope(principal, body.agency_id),
        network_id=body.network_id,
        event_types=tuple(body.event_types),
        since=body.since,
        until=body.until,
    )
    return JSONResponse(await _audited_page(request, principal, filters, body.after_seq, body.limit, "search audit log"))


class WhoViewed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nhs_number: str = Field(pattern=r"^\d{10}$")


@router.post("/audit/who-viewed", tags=["audit"])
async def who_viewed(body: WhoViewed, request: Request, principal: Authenticated) -> JSONResponse:
    """Who looked at this patient's records: every recorded access, oldest first."""
    if principal.role != "operations":
        raise HTTPException(403, "the who-viewed report is for operations staff")
    filters = Filters(patient_key=_patient(request, body.nhs_number), event_types=("access.recorded",))
    page = await _audited_page(request, principal, filters, 0, 1000, "who viewed this patient")
    viewers = [
        {
            "when": e["payload"]["occurred_at"],
            "client_id": e["payload"]["client_id"],
            "organisation": e["payload"]["organisation"],
            "role": e["payload"]["role"],
            "function": e["payload"]["function"],
            "outcome": e["payload"]["outcome"],
            "referral_id": e["referral_id"],
        }
        for e in page["events"]
    ]
    return JSONResponse({"accesses": viewers})


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
    filters = Filters(agency_id=_scope(principal, agency), network_id=network, event_types=tuple(event_type or ()))
    runtime = _runtime(request)
    settings = runtime.settings
    expires_at: float = request.state.token_expires_at
    if time.time() >= expires_at:
        # Other endpoints allow the token half a minute of clock skew; a stream would end as soon as it began.
        raise HTTPException(401, "the token has expired", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    connected = registry_for(request).get(principal.client_id)
    if connected is None:  # revoked between the token check and here
        raise HTTPException(401, "the client is no longer registered", headers={"WWW-Authenticate": "Bearer"})
    streams = runtime.part(live.LiveStreams)
    refusal = streams.slots.take(principal.client_id)
    if refusal:
        raise RateLimited(live.RETRY_AFTER_S, refusal)
    # The live streams read through a pool of their own, never the one the recorder writes with.
    try:
        # Rows are shown in the stream's own order (services/audit/store/stream.py); an id is a row's seq.
        resume = int(last_event_id) if last_event_id and last_event_id.isdigit() else after_seq
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
                registry, recheck_at = registry_for(request), time.monotonic() + settings.audit_stream_recheck_s
            reason = live.reason_to_end(time.time(), expires_at, connected, registry)
            if reason:
                log.info("audit stream closed", client_id=principal.client_id, reason=reason)
                live.ENDED.labels(reason).inc()
                yield ServerSentEvent(comment=f"stream closed: {reason}; reconnect with a fresh token and Last-Event-ID")
                return
            async with streams.pool.acquire() as conn:
                rows = await stream_order.page(conn, filters, seen, 200)
            for cursor, row in rows:
                seen = cursor
                yield {"id": str(row["seq"]), "event": row["event_type"], "data": json.dumps(row)}
            if not rows:
                await asyncio.sleep(min(STREAM_POLL_S, max(0.0, expires_at - time.time())))

    return _HeldStream(events(), release=lambda: streams.slots.give_back(principal.client_id), ping=15)


class _HeldStream(EventSourceResponse):
    """Gives the stream's slot back however the response ends: finished, cut off by a hang-up, or failed."""

    def __init__(self, content: AsyncIterator[Any], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
