"""Dead letters over HTTP, for operations staff: list them (by referral), replay one or all of a referral's.

Every list and every replay is recorded as an access, with who did it. A
replay puts the original bytes back on the original topic (through the outbox,
with a ``signpost-replay-of`` header) and records who asked. The consumers are
idempotent by event id, so a record that was in fact handled before changes
nothing, and a replay is never applied twice.

An original too large to travel in its letter (``signpost.dead_letter_bodies``)
comes by digest and size. The notifier can replay it when it keeps the bytes
itself (one of its own consumers refused the record: it keeps them in its own
schema). When only another service keeps them, the replay is refused (409)
and says which service keeps the bytes: that schema is not the notifier's to read.
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from schemas.topics import REPLAYS
from services.notifier.domain.dead_letters import (
    one_per_source,
    patient_key_of,
    replay_event_id,
    replayed,
    safe_fields,
)
from services.notifier.store import dead_letters as store
from signpost import dead_letter_bodies, logs
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.clients import Principal
from signpost.database import Conn
from signpost.http import problem
from signpost.outbox import enqueue
from signpost.service import Runtime

log = logs.get_logger()
router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _audited(
    conn: Any,
    request: Request,
    principal: Principal,
    function: str,
    referral_id: UUID | None,
    detail: str,
) -> None:
    await record_access(
        conn,
        producer="notifier",
        principal=principal,
        function=function,
        referral_id=referral_id,
        detail=detail,
        correlation_id=request.state.correlation_id,
        granted=principal.role == "operations",
    )


@router.get("")
async def list_dead_letters(
    request: Request,
    principal: Authenticated,
    referral_id: UUID | None = None,
    consumer: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """Dead letters, newest first: why each failed and where it came from. Never the record itself."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _audited(
            conn,
            request,
            principal,
            "list dead letters",
            referral_id,
            f"consumer={consumer}",
        )
        if principal.role != "operations":
            return problem(403, "Forbidden", "dead letters are for operations staff")
        return JSONResponse({"items": await listed(conn, referral_id, consumer, limit)})


@router.post("/{dead_letter_id}/replay")
async def replay_one(
    dead_letter_id: Annotated[UUID, Path()],
    request: Request,
    principal: Authenticated,
    force: bool = False,
) -> JSONResponse:
    """Put one dead letter's record back on its topic; 409 if it was replayed before (unless ``force``)."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _audited(
            conn,
            request,
            principal,
            "replay dead letter",
            None,
            f"{dead_letter_id} force={force}",
        )
        if principal.role != "operations":
            return problem(
                403, "Forbidden", "only operations staff may replay dead letters"
            )
        try:
            replayed = await replay(
                conn,
                dead_letter_id,
                principal.client_id,
                request.state.correlation_id,
                force=force,
            )
        except ReplayRefused as refused:
            return problem(
                refused.status,
                "Conflict" if refused.status == 409 else "Not Found",
                refused.detail,
            )
    return JSONResponse(replayed)


@router.post("/replay")
async def replay_referral(
    request: Request, principal: Authenticated, referral_id: UUID, force: bool = False
) -> JSONResponse:
    """Replay each of one referral's dead records not replayed yet (all again if ``force``), oldest first."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _audited(
            conn,
            request,
            principal,
            "replay dead letters of referral",
            referral_id,
            f"force={force}",
        )
        if principal.role != "operations":
            return problem(
                403, "Forbidden", "only operations staff may replay dead letters"
            )
        replayed = await replay_of_referral(
            conn,
            referral_id,
            principal.client_id,
            request.state.correlation_id,
            force=force,
        )
    return JSONResponse({"referral_id": str(referral_id), "replayed": replayed})


async def listed(
    conn: Conn, referral_id: UUID | None, consumer: str | None, limit: int
) -> list[dict[str, Any]]:
    return [
        safe_fields(r) for r in await store.listed(conn, referral_id, consumer, limit)
    ]


class ReplayRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def replay(
    conn: Conn,
    dead_letter_id: UUID,
    by: str,
    correlation_id: str,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Put the original record back on its topic, once (``force`` to send it again); within the caller's transaction.

    The record's other dead letters (other consumers that refused it) are marked
    replayed too: the record goes back to every consumer of its topic. A
    ``dead_letter.replayed`` event goes out in the same transaction, so the
    audit log (and the operations page) shows each replay, who asked, and
    which dead letters it answers.
    """
    rows = await store.lock_siblings(conn, dead_letter_id)
    row = next((r for r in rows if r["dead_letter_id"] == dead_letter_id), None)
    if row is None:
        raise ReplayRefused(404, f"no dead letter {dead_letter_id}")
    done = max(
        (r for r in rows if r["replayed_at"] is not None),
        key=lambda r: r["replayed_at"],
        default=None,
    )
    if done is not None and not force:
        when = f"{done['replayed_at']:%Y-%m-%d %H:%M:%S} UTC"
        raise ReplayRefused(
            409,
            f"the record of dead letter {dead_letter_id} was already replayed at {when}"
            f" by {done['replayed_by']}; pass force to send it again",
        )
    payload, stored_headers = await _original(
        conn, row, [r["dead_letter_id"] for r in rows]
    )
    headers = {**stored_headers, "signpost-replay-of": str(dead_letter_id)}
    await enqueue(
        conn,
        topic=row["original_topic"],
        key=patient_key_of(payload),
        event=payload,
        event_id=replay_event_id(dead_letter_id, row["replays"]),
        headers=headers,
    )
    updated = await store.mark_replayed(conn, dead_letter_id, by)
    marked = [r["dead_letter_id"] for r in updated]
    event = replayed(
        {**dict(row), "payload": payload},
        marked,
        by=by,
        correlation_id=correlation_id,
        forced=force,
        at=datetime.now(UTC),
    )
    await enqueue(
        conn,
        topic=REPLAYS,
        key=event.patient_key,
        event=event,
        event_id=event.event_id,
    )
    log.info(
        "dead letter replayed",
        topic=row["original_topic"],
        consumer=row["consumer"],
        letters=len(updated),
    )
    shown = next(
        safe_fields(dict(r)) for r in updated if r["dead_letter_id"] == dead_letter_id
    )
    return {
        **shown,
        "also_marked": [
            str(r["dead_letter_id"])
            for r in updated
            if r["dead_letter_id"] != dead_letter_id
        ],
    }


async def _original(
    conn: Conn, row: Any, siblings: list[UUID]
) -> tuple[bytes, dict[str, str]]:
    """The original bytes and headers to put back: carried by the letter, or kept in this schema; else refused."""
    if row["payload"] is not None:
        return bytes(row["payload"]), json.loads(row["headers"])
    own = await dead_letter_bodies.kept(conn, siblings)
    if own is not None:
        return own
    raise ReplayRefused(
        409,
        f"the original record of dead letter {row['dead_letter_id']} ({row['payload_bytes']} bytes, sha256"
        f" {row['payload_sha256']}) was too large to travel in its dead letter; {row['payload_kept_by']} keeps it in its"
        " own schema (table dead_letter_bodies, by dead letter id), which the notifier may not read: inspect or replay it"
        " there",
    )


async def replay_of_referral(
    conn: Conn, referral_id: UUID, by: str, correlation_id: str, *, force: bool = False
) -> list[dict[str, Any]]:
    """Replay each of a referral's dead records once (every one again if ``force``), oldest first."""
    letters = await store.of_referral(conn, referral_id)
    done = []
    for dead_letter_id in one_per_source(letters, force=force):
        try:
            done.append(
                await replay(conn, dead_letter_id, by, correlation_id, force=force)
            )
        except ReplayRefused as refused:
            if refused.status != 409:
                raise
            # Another operator replayed it between our read and our lock: it is on its way already.
    return done
