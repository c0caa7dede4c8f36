"""FHIR reads for the referrer: ``GET ServiceRequest/{id}``, ``GET Task?based-on=ServiceRequest/{id}``, ``GET Task/{id}``.

Who may read follows the JSON read (``api.referrals.get_referral``): the referring
organisation's own clients and operations. Anyone else gets the same 404 as
for an id that does not exist, so ids cannot be probed; a search simply finds
nothing. Every read, granted or refused, is recorded as an access event in
the same transaction (audit's who-viewed). Errors, the 401 included, are
OperationOutcome: the token is checked inside each route rather than by a
dependency, because a dependency's 401 is rendered as problem details
app-wide.
"""

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from services.intake.api.callers import caller
from services.intake.domain.bars_status import UnknownStatus, may_read
from services.intake.domain.fhir.outcome import FHIR_JSON, FHIR_PREFIX
from services.intake.domain.fhir.read import (
    read_outcome,
    searchset,
    service_request,
    tasks,
)
from services.intake.store import referrals
from services.intake.store.assignments import assignment_referral, referral_assignments
from signpost import logs
from signpost.access import record_access
from signpost.clients import Principal
from signpost.database import Conn
from signpost.service import Runtime

router = APIRouter(tags=["fhir"])
Shown = TypeVar("Shown")
log = logs.get_logger()
NOT_VISIBLE = "no {} with that id is visible to this client"
# A reference to a ServiceRequest as FHIR search allows it: the id, ServiceRequest/id, or an absolute URL.
_REFERENCE = re.compile(r"^(?:(?:.*/)?ServiceRequest/)?([0-9a-fA-F-]{36})$")
# Search parameters a Task search understands; FHIR's own _-parameters (_count, _format...) are ignored.
_SEARCHABLE = frozenset({"based-on", "focus"})
_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": what, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    for code, what in (
        (200, "the FHIR resource"),
        (401, "OperationOutcome"),
        (404, "OperationOutcome"),
    )
}


@router.get("/ServiceRequest/{referral_id}", responses=_RESPONSES)
async def read_service_request(referral_id: str, request: Request) -> JSONResponse:
    """The referral as a BaRS ServiceRequest with its current status; 404 unless the caller's organisation made it."""
    principal = await _caller(request)
    if isinstance(principal, JSONResponse):
        return principal
    wanted = _uuid(referral_id)
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        summary = await referrals.referral_summary(conn, wanted) if wanted else None
        body, failure = _render(principal, summary, service_request)
        await _record(
            conn,
            request,
            principal,
            "read referral as FHIR ServiceRequest",
            wanted,
            summary,
            body,
            failure,
        )
    return _answer(body, failure, "ServiceRequest")


@router.get("/Task", responses=_RESPONSES)
async def search_tasks(
    request: Request,
    based_on: Annotated[
        str | None, Query(alias="based-on", description="ServiceRequest/{referral id}")
    ] = None,
    focus: Annotated[str | None, Query(description="the same, as Task.focus")] = None,
) -> JSONResponse:
    """The referral's outcomes: one Task per assignment, as a searchset Bundle (empty unless the caller may read it)."""
    principal = await _caller(request)
    if isinstance(principal, JSONResponse):
        return principal
    wanted = searched_referral(
        request.query_params
    )  # read from the query itself: a parameter may be repeated
    if isinstance(wanted, JSONResponse):
        return wanted
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        summary = await referrals.referral_summary(conn, wanted)
        assignments = await referral_assignments(conn, wanted) if summary else []
        found, failure = _render(principal, summary, lambda s: tasks(s, assignments))
        await _record(
            conn,
            request,
            principal,
            "search referral outcomes as FHIR Tasks",
            wanted,
            summary,
            found,
            failure,
        )
    if failure:
        return _answer(None, failure, "Task")
    return _fhir(
        200, searchset(found or [], base=_base(request), self_link=str(request.url))
    )


@router.get("/Task/{assignment_id}", responses=_RESPONSES)
async def read_task(assignment_id: str, request: Request) -> JSONResponse:
    """One outcome (an assignment as a Task), for a client following a search entry's fullUrl."""
    principal = await _caller(request)
    if isinstance(principal, JSONResponse):
        return principal
    wanted = _uuid(assignment_id)
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        referral_id = await assignment_referral(conn, wanted) if wanted else None
        summary = (
            await referrals.referral_summary(conn, referral_id) if referral_id else None
        )
        assignments = (
            await referral_assignments(conn, referral_id) if referral_id else []
        )
        found, failure = _render(
            principal,
            summary,
            lambda s: [t for t in tasks(s, assignments) if t["id"] == str(wanted)],
        )
        await _record(
            conn,
            request,
            principal,
            "read referral outcome as FHIR Task",
            referral_id,
            summary,
            found,
            failure,
        )
    return _answer(found[0] if found else None, failure, "Task")


async def _caller(request: Request) -> Principal | JSONResponse:
    """The authenticated caller, or the 401 as an OperationOutcome with the same Bearer challenge."""
    try:
        return await caller(request)
    except HTTPException as refused:
        body = read_outcome(401, str(refused.detail))
        return JSONResponse(
            body, status_code=401, media_type=FHIR_JSON, headers=refused.headers
        )


def _render(
    principal: Principal,
    summary: dict[str, Any] | None,
    render: Callable[[dict[str, Any]], Shown],
) -> tuple[Shown | None, str | None]:
    """What the caller may see (None if nothing), or why intake could not say it in FHIR."""
    if summary is None or not may_read(
        principal.role,
        principal.organisation,
        referrer_ods=str(summary["referrer_ods"]),
    ):
        return None, None
    try:
        return render(summary), None
    except UnknownStatus as unknown:
        log.error("a status has no FHIR mapping", error=str(unknown))
        return None, str(unknown)


async def _record(
    conn: Conn,
    request: Request,
    principal: Principal,
    function: str,
    referral_id: uuid.UUID | None,
    summary: dict[str, Any] | None,
    shown: object,
    failure: str | None,
) -> None:
    granted = shown is not None
    await record_access(
        conn,
        producer="intake",
        principal=principal,
        function=function,
        correlation_id=request.state.correlation_id,
        granted=granted,
        referral_id=referral_id,
        patient_key=str(summary["patient_key"]) if summary and granted else None,
        detail=failure,
    )


def _answer(
    body: dict[str, Any] | None, failure: str | None, kind: str
) -> JSONResponse:
    if failure:
        return _fhir(
            500,
            read_outcome(
                500,
                "intake holds a state it cannot express in FHIR; operations have been told",
            ),
        )
    if body is None:
        return _fhir(404, read_outcome(404, NOT_VISIBLE.format(kind)))
    return _fhir(200, body)


def searched_referral(params: QueryParams) -> uuid.UUID | JSONResponse:
    """The one ServiceRequest a Task search names, or a 400 saying what a search must look like."""
    unsupported = sorted(
        {k for k in params if k not in _SEARCHABLE and not k.startswith("_")}
    )
    if unsupported:
        detail = f"Task search supports only based-on (or focus) = ServiceRequest/{{id}}; not {', '.join(unsupported)}"
        return _fhir(400, read_outcome(400, detail, code="not-supported"))
    values = [v for k in _SEARCHABLE for v in params.getlist(k)]
    if len(values) != 1 or "," in values[0]:
        return _fhir(
            400,
            read_outcome(
                400, "a Task search needs exactly one based-on=ServiceRequest/{id}"
            ),
        )
    match = _REFERENCE.match(values[0])
    wanted = _uuid(match.group(1)) if match else None
    if wanted is None:
        return _fhir(
            400,
            read_outcome(
                400, "based-on must reference a ServiceRequest: ServiceRequest/{id}"
            ),
        )
    return wanted


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


def _fhir(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
