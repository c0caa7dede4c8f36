"""What operations staff work from: the open queues and how far each consumer is behind.

The audit log already holds every event, so the unroutable queue, SLA
breaches and dead letters are views over it (with each dead letter's latest
``dead_letter.replayed``, so the page says what was put back, when and by whom). Each view sends a short list
of safe fields, never the stored payload: a dead letter keeps its original
record in base64, and that record may be a referral with a patient's name
in it. Reading a queue is recorded as an access, like every audit read.

Consumer lag comes from Kafka itself (committed offsets against end
offsets), so it stays true when a service is down and cannot report its
own metrics. It names no patient, so it is not recorded as an access.

Acting on a queue (assign by hand, replay a dead letter) is relayed to the
service that owns the decision; that service checks the role again and
records the access, so the page holds no authority of its own.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.audit.domain.lag import Partition, lag_report
from services.audit.domain.queues import queue_item, with_replays
from services.audit.store import queues
from services.audit.store.log import shape
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.clients import Principal
from signpost.database import Conn
from signpost.http import problem
from signpost.kafka_security import client_kwargs
from signpost.service import Runtime
from signpost.service_urls import service_url, verify

router = APIRouter(prefix="/v1/operations", tags=["operations"])

LAG_TIMEOUT_S = 10.0


def _operations_only(principal: Principal) -> None:
    if principal.role != "operations":
        raise HTTPException(403, "operations views are for operations staff")


async def _queue(
    request: Request,
    principal: Principal,
    read: Callable[[Conn, int], Awaitable[list[Any]]],
    limit: int,
    function: str,
) -> JSONResponse:
    _operations_only(principal)
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        rows = await read(conn, limit)
        await record_access(
            conn,
            producer="audit",
            principal=principal,
            function=function,
            correlation_id=request.state.correlation_id,
            granted=True,
        )
    return JSONResponse({"items": [queue_item(shape(r)) for r in rows]})


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/unroutable")
async def unroutable(
    request: Request, principal: Authenticated, limit: Limit = 100
) -> JSONResponse:
    """Referrals no rule could route and nobody has assigned since, oldest first: the work queue."""
    return await _queue(
        request, principal, queues.unroutable, limit, "read unroutable queue"
    )


class HandAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: str = Field(min_length=2, max_length=63)
    reason: str = Field(min_length=3, max_length=500)


@router.post("/unroutable/{referral_id}/assign")
async def assign_by_hand(
    referral_id: UUID, body: HandAssignment, request: Request, principal: Authenticated
) -> Response:
    """Route a referral from the queue by hand. The router makes the assignment and records the access; this relays it."""
    _operations_only(principal)
    return await _relay(
        request,
        "router",
        f"/v1/referrals/{referral_id}/assignments",
        body.model_dump(),
        {},
        "the router did not answer; the referral was not assigned",
    )


async def _relay(
    request: Request,
    service: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, str],
    unavailable: str,
) -> Response:
    """POST to the service that owns the action, as the caller (same token, same correlation id); pass its answer on."""
    runtime: Runtime = request.app.state.runtime
    url = f"{service_url(runtime.settings, service)}{path}"
    headers = {
        "Authorization": request.headers.get("authorization", ""),
        "X-Correlation-Id": request.state.correlation_id,
    }
    try:
        async with httpx.AsyncClient(
            timeout=10.0, verify=verify(runtime.settings)
        ) as client:
            answer = await client.post(url, json=body, params=params, headers=headers)
    except httpx.HTTPError:
        return problem(503, "Service Unavailable", unavailable)
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type"),
    )


@router.get("/escalations")
async def escalations(
    request: Request, principal: Authenticated, limit: Limit = 100
) -> JSONResponse:
    """SLA breaches (``referral.escalated``), newest first."""
    return await _queue(
        request, principal, queues.escalations, limit, "read SLA escalations"
    )


@router.get("/dead-letters")
async def dead_letters(
    request: Request, principal: Authenticated, limit: Limit = 100
) -> JSONResponse:
    """Records a consumer could not handle, with the reason and where they came from, newest first."""
    _operations_only(principal)
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        letters = await queues.dead_letters(conn, limit)
        replays = await queues.replays_of(conn, [str(r["event_id"]) for r in letters])
        await record_access(
            conn,
            producer="audit",
            principal=principal,
            function="read dead letters",
            correlation_id=request.state.correlation_id,
            granted=True,
        )
    items = [queue_item(shape(r)) for r in letters]
    return JSONResponse({"items": with_replays(items, [shape(r) for r in replays])})


@router.post("/dead-letters/{dead_letter_id}/replay")
async def replay_dead_letter(
    dead_letter_id: UUID,
    request: Request,
    principal: Authenticated,
    force: bool = False,
) -> Response:
    """Put a dead letter's record back on its topic. The notifier keeps dead letters, replays and records the access."""
    _operations_only(principal)
    return await _relay(
        request,
        "notifier",
        f"/v1/dead-letters/{dead_letter_id}/replay",
        None,
        {"force": "true" if force else "false"},
        "the notifier did not answer; nothing was replayed",
    )


async def read_offsets(
    bootstrap: str, **security: Any
) -> tuple[dict[str, dict[Partition, int]], dict[Partition, int]]:
    """Every consumer group's committed offsets, and the end offsets of the partitions they cover."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **security
    )
    await admin.start()
    try:
        await consumer.start()
        committed: dict[str, dict[Partition, int]] = {}
        for group_id, *_ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group_id)
            committed[group_id] = {
                (tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
            }
        partitions = {
            TopicPartition(t, p) for group in committed.values() for t, p in group
        }
        if partitions:
            # Assigning first makes the consumer track these topics' metadata; without it
            # end_offsets retries with backoff per unknown topic (2 s+ with a few hundred topics).
            consumer.assign(list(partitions))
        ends = await consumer.end_offsets(list(partitions)) if partitions else {}
        return committed, {(tp.topic, tp.partition): end for tp, end in ends.items()}
    finally:
        await consumer.stop()
        await admin.close()


@router.get("/consumer-lag")
async def consumer_lag(request: Request, principal: Authenticated) -> JSONResponse:
    """How many records each consumer group has yet to handle, per topic and per agency."""
    _operations_only(principal)
    runtime: Runtime = request.app.state.runtime
    try:
        async with asyncio.timeout(LAG_TIMEOUT_S):
            committed, ends = await read_offsets(
                runtime.settings.kafka_bootstrap, **client_kwargs(runtime.settings)
            )
    except (KafkaError, OSError, TimeoutError) as exc:
        return problem(
            503,
            "Service Unavailable",
            f"Kafka did not answer for consumer lag ({type(exc).__name__})",
        )
    return JSONResponse({"groups": lag_report(committed, ends)})
