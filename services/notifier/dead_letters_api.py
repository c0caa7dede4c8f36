"""Dead letters over HTTP, for operations staff: list them (by referral), replay one or all of a referral's.

Every list and every replay is recorded as an access, with who did it.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.notifier import dead_letters
from signpost.access import record_access
from signpost.auth import Authenticated, Principal
from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _audited(
    conn: Any, request: Request, principal: Principal, function: str, referral_id: UUID | None, detail: str
) -> None:
    await record_access(
        conn, producer="notifier", principal=principal, function=function, referral_id=referral_id, detail=detail,
        correlation_id=request.state.correlation_id, granted=principal.role == "operations",
    )  # fmt: skip


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
        await _audited(conn, request, principal, "list dead letters", referral_id, f"consumer={consumer}")
        if principal.role != "operations":
            return problem(403, "Forbidden", "dead letters are for operations staff")
        return JSONResponse({"items": await dead_letters.listed(conn, referral_id, consumer, limit)})


@router.post("/{dead_letter_id}/replay")
async def replay_one(dead_letter_id: Annotated[UUID, Path()], request: Request, principal: Authenticated,
                     force: bool = False) -> JSONResponse:  # fmt: skip
    """Put one dead letter's record back on its topic; 409 if it was replayed before (unless ``force``)."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _audited(conn, request, principal, "replay dead letter", None, f"{dead_letter_id} force={force}")
        if principal.role != "operations":
            return problem(403, "Forbidden", "only operations staff may replay dead letters")
        try:
            replayed = await dead_letters.replay(
                conn, dead_letter_id, principal.client_id, request.state.correlation_id, force=force
            )
        except dead_letters.ReplayRefused as refused:
            return problem(refused.status, "Conflict" if refused.status == 409 else "Not Found", refused.detail)
    return JSONResponse(replayed)


@router.post("/replay")
async def replay_referral(request: Request, principal: Authenticated, referral_id: UUID, force: bool = False) -> JSONResponse:
    """Replay each of one referral's dead records not replayed yet (all again if ``force``), oldest first."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _audited(conn, request, principal, "replay dead letters of referral", referral_id, f"force={force}")
        if principal.role != "operations":
            return problem(403, "Forbidden", "only operations staff may replay dead letters")
        replayed = await dead_letters.replay_referral(
            conn, referral_id, principal.client_id, request.state.correlation_id, force=force
        )
    return JSONResponse({"referral_id": str(referral_id), "replayed": replayed})
