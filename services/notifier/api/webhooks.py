"""How an agency takes its referrals, and a referrer its feedback, and the switch to hold them back.

``PUT /v1/agencies/{id}/webhook`` moves an agency from its Kafka topic to a
signed webhook (the agency itself or operations staff); ``DELETE`` moves it
back, and what still waited for the webhook goes on the topic. ``pause``
(until a time, or until ``resume``) holds an agency's webhook deliveries while
it sorts out its end (operations only).

``/v1/referrers/{ods}/...`` does the same for an organisation that may refer:
its feedback comes by signed webhook as well as on its ``practice.<ods>.feedback``
topic. Only that organisation's own clients (and operations staff) may set,
remove, pause, resume or read it; another organisation's token gets 403.

Every change and every look is recorded as an access, refusals too. The
secret is write-only: it is never shown again, nor logged; the URL is shown
without its query or user part, which may hold a token.
"""

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from schemas.referral import ODS_CODE_PATTERN
from services.notifier.domain.webhooks.breaker import BREAKER
from services.notifier.domain.webhooks.receivers import referrer_receiver
from services.notifier.domain.webhooks.signing import secret_problem
from services.notifier.loops import webhook_reach
from services.notifier.store import webhooks as store
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.clients import Principal, may_refer
from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1/agencies", tags=["webhooks"])
referrers = APIRouter(prefix="/v1/referrers", tags=["webhooks"])
AgencyId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
OdsCode = Annotated[str, Path(pattern=ODS_CODE_PATTERN)]
_AGENCY_REFUSAL = "only the agency itself or operations staff may {}"
_PAUSE_REFUSAL = "only operations staff may pause or resume an agency's deliveries"
_REFERRER_REFUSAL = "only the organisation's own clients or operations staff may {} its feedback webhook"


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_seconds: float = Field(
        default=60, gt=0, le=86_400, description="first wait; then doubled, with jitter"
    )
    max_seconds: float = Field(
        default=3_600, gt=0, le=7 * 86_400, description="longest single wait"
    )
    give_up_after_seconds: float = Field(
        default=3 * 86_400,
        gt=0,
        le=30 * 86_400,
        description="then it becomes a dead letter",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "Retry":
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must be at least initial_seconds")
        return self


class Pause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime | None = Field(
        default=None, description="the pause ends by itself then; absent: until resumed"
    )


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    secret: str = Field(
        min_length=32,
        max_length=256,
        description="shared HMAC-SHA256 key, write-only: whsec_<base64 of 24-64 bytes> (Standard Webhooks), or any"
        " other string of 32+ characters (its Standard Webhooks form is whsec_ + base64 of it)",
    )
    retry: Retry = Field(default_factory=Retry)

    @field_validator("secret")
    @classmethod
    def _usable(cls, secret: str) -> str:
        found = secret_problem(secret)
        if found is not None:
            raise ValueError(found)
        return secret


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _may_manage(principal: Principal, agency_id: str) -> bool:
    return principal.role == "operations" or (
        principal.role == "agency" and principal.agency_id == agency_id
    )


def may_manage_referrer(principal: Principal, ods_code: str) -> bool:
    """Operations staff, or a client of that very organisation that may refer: never another organisation."""
    return principal.role == "operations" or (
        may_refer(principal.role) and principal.organisation == ods_code
    )


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def _record(
    conn: Any,
    request: Request,
    principal: Principal,
    function: str,
    granted: bool,
    whose: str,
    more: str = "",
) -> None:
    await record_access(
        conn,
        producer="notifier",
        principal=principal,
        function=function,
        granted=granted,
        correlation_id=request.state.correlation_id,
        detail=f"{whose}{more}",
    )


async def _register(
    receiver: str,
    whose: str,
    allowed: bool,
    refusal: str,
    body: Webhook,
    request: Request,
    principal: Principal,
) -> JSONResponse | dict[str, Any]:
    runtime = _runtime(request)
    # Looked up before a connection is taken (DNS may be slow), and only for a caller who may set the webhook.
    allow_private = runtime.settings.webhook_allow_private
    unreachable = (
        await webhook_reach.refusal(str(body.url), allow_private=allow_private)
        if allowed
        else None
    )
    async with runtime.pool.acquire() as conn, conn.transaction():
        await _record(
            conn,
            request,
            principal,
            "register webhook",
            allowed and unreachable is None,
            whose,
        )
        if not allowed:
            return problem(403, "Forbidden", refusal)
        if unreachable is not None:
            return problem(422, "Unprocessable Content", unreachable)
        r = body.retry
        await store.register(
            conn,
            receiver,
            str(body.url),
            body.secret,
            r.initial_seconds,
            r.max_seconds,
            r.give_up_after_seconds,
            principal.client_id,
        )
    return {
        "channel": "webhook",
        "url": shown_url(str(body.url)),
        "retry": r.model_dump(),
    }


async def _unregister(
    receiver: str,
    whose: str,
    allowed: bool,
    refusal: str,
    request: Request,
    principal: Principal,
) -> JSONResponse | int:
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _record(conn, request, principal, "remove webhook", allowed, whose)
        if not allowed:
            return problem(403, "Forbidden", refusal)
        await store.unregister(conn, receiver)
        moved: int = await store.hand_back_to_kafka(conn, receiver)
    return moved


@router.put("/{agency_id}/webhook")
async def register(
    agency_id: AgencyId, body: Webhook, request: Request, principal: Authenticated
) -> JSONResponse:
    done = await _register(
        agency_id,
        f"agency {agency_id}",
        _may_manage(principal, agency_id),
        _AGENCY_REFUSAL.format("set its webhook"),
        body,
        request,
        principal,
    )
    return (
        done
        if isinstance(done, JSONResponse)
        else JSONResponse({"agency_id": agency_id, **done})
    )


@router.delete("/{agency_id}/webhook")
async def unregister(
    agency_id: AgencyId, request: Request, principal: Authenticated
) -> JSONResponse:
    moved = await _unregister(
        agency_id,
        f"agency {agency_id}",
        _may_manage(principal, agency_id),
        _AGENCY_REFUSAL.format("change its channel"),
        request,
        principal,
    )
    return (
        moved
        if isinstance(moved, JSONResponse)
        else JSONResponse(
            {"agency_id": agency_id, "channel": "kafka", "moved_to_topic": moved}
        )
    )


async def _switch(
    receiver: str,
    whose: str,
    allowed: bool,
    refusal: str,
    until: datetime | None,
    paused: bool,
    request: Request,
    principal: Principal,
) -> JSONResponse | None:
    action = "pause deliveries" if paused else "resume deliveries"
    if until is not None and until <= datetime.now(UTC):
        return problem(422, "Unprocessable Content", "a pause must end in the future")
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _record(
            conn,
            request,
            principal,
            action,
            allowed,
            whose,
            f" until {until.isoformat()}" if until else "",
        )
        if not allowed:
            return problem(403, "Forbidden", refusal)
        await store.switch(conn, receiver, paused, until, principal.client_id)
        if (
            not paused
        ):  # what waited for the pause goes at once, not at its last backed-off time
            await store.release(conn, receiver)
    return None


def _switched(
    key: str, value: str, paused: bool, until: datetime | None
) -> JSONResponse:
    return JSONResponse(
        {key: value, "paused": paused, "until": until.isoformat() if until else None}
    )


@router.post("/{agency_id}/pause")
async def pause(
    agency_id: AgencyId,
    request: Request,
    principal: Authenticated,
    body: Pause | None = None,
) -> JSONResponse:
    until = body.until if body else None
    refused = await _switch(
        agency_id,
        f"agency {agency_id}",
        principal.role == "operations",
        _PAUSE_REFUSAL,
        until,
        True,
        request,
        principal,
    )
    return refused or _switched("agency_id", agency_id, True, until)


@router.post("/{agency_id}/resume")
async def resume(
    agency_id: AgencyId, request: Request, principal: Authenticated
) -> JSONResponse:
    refused = await _switch(
        agency_id,
        f"agency {agency_id}",
        principal.role == "operations",
        _PAUSE_REFUSAL,
        None,
        False,
        request,
        principal,
    )
    return refused or _switched("agency_id", agency_id, False, None)


async def _status_of(
    receiver: str,
    whose: str,
    allowed: bool,
    refusal: str,
    request: Request,
    principal: Principal,
) -> JSONResponse | dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        await _record(conn, request, principal, "view delivery status", allowed, whose)
        if not allowed:
            return problem(403, "Forbidden", refusal)
        return await _status(conn, receiver)


@router.get("/{agency_id}/delivery-status")
async def status(
    agency_id: AgencyId, request: Request, principal: Authenticated
) -> JSONResponse:
    found = await _status_of(
        agency_id,
        f"agency {agency_id}",
        _may_manage(principal, agency_id),
        _AGENCY_REFUSAL.format("see its deliveries"),
        request,
        principal,
    )
    return (
        found
        if isinstance(found, JSONResponse)
        else JSONResponse({"agency_id": agency_id, **found})
    )


@referrers.put("/{ods_code}/webhook")
async def register_referrer(
    ods_code: OdsCode, body: Webhook, request: Request, principal: Authenticated
) -> JSONResponse:
    done = await _register(
        referrer_receiver(ods_code),
        f"referrer {ods_code}",
        may_manage_referrer(principal, ods_code),
        _REFERRER_REFUSAL.format("set"),
        body,
        request,
        principal,
    )
    return (
        done
        if isinstance(done, JSONResponse)
        else JSONResponse({"ods_code": ods_code, **done})
    )


@referrers.delete("/{ods_code}/webhook")
async def unregister_referrer(
    ods_code: OdsCode, request: Request, principal: Authenticated
) -> JSONResponse:
    moved = await _unregister(
        referrer_receiver(ods_code),
        f"referrer {ods_code}",
        may_manage_referrer(principal, ods_code),
        _REFERRER_REFUSAL.format("remove"),
        request,
        principal,
    )
    return (
        moved
        if isinstance(moved, JSONResponse)
        else JSONResponse(
            {"ods_code": ods_code, "channel": "kafka", "stopped_waiting": moved}
        )
    )


@referrers.post("/{ods_code}/pause")
async def pause_referrer(
    ods_code: OdsCode,
    request: Request,
    principal: Authenticated,
    body: Pause | None = None,
) -> JSONResponse:
    until = body.until if body else None
    refused = await _switch(
        referrer_receiver(ods_code),
        f"referrer {ods_code}",
        may_manage_referrer(principal, ods_code),
        _REFERRER_REFUSAL.format("pause"),
        until,
        True,
        request,
        principal,
    )
    return refused or _switched("ods_code", ods_code, True, until)


@referrers.post("/{ods_code}/resume")
async def resume_referrer(
    ods_code: OdsCode, request: Request, principal: Authenticated
) -> JSONResponse:
    refused = await _switch(
        referrer_receiver(ods_code),
        f"referrer {ods_code}",
        may_manage_referrer(principal, ods_code),
        _REFERRER_REFUSAL.format("resume"),
        None,
        False,
        request,
        principal,
    )
    return refused or _switched("ods_code", ods_code, False, None)


@referrers.get("/{ods_code}/delivery-status")
async def referrer_status(
    ods_code: OdsCode, request: Request, principal: Authenticated
) -> JSONResponse:
    found = await _status_of(
        referrer_receiver(ods_code),
        f"referrer {ods_code}",
        may_manage_referrer(principal, ods_code),
        _REFERRER_REFUSAL.format("read"),
        request,
        principal,
    )
    return (
        found
        if isinstance(found, JSONResponse)
        else JSONResponse({"ods_code": ods_code, **found})
    )


async def _status(conn: Any, agency_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    hook = await store.url_of(conn, agency_id)
    counts = await store.counts(conn, agency_id)
    waiting = await store.waiting(conn, agency_id)
    controls = await store.controls(conn, agency_id, BREAKER, lock=False)
    reopens = controls.breaker.reopens_at()
    return {
        "channel": "webhook" if hook else "kafka",
        "url": shown_url(hook) if hook else None,
        "paused": controls.paused
        and (controls.paused_until is None or now < controls.paused_until),
        "paused_until": controls.paused_until.isoformat()
        if controls.paused and controls.paused_until
        else None,
        "breaker": {
            "state": controls.breaker.state(now).value,
            "consecutive_failures": controls.breaker.consecutive_failures,
            "reopens_at": reopens.isoformat() if reopens else None,
        },
        "pending": counts.get("pending", 0),
        "deliveries": counts,
        "next_attempt_at": waiting["next_attempt_at"].isoformat()
        if waiting["next_attempt_at"]
        else None,
        "last_error": waiting["last_error"],
    }
