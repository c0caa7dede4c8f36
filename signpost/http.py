"""HTTP conventions shared by every service's API.

- ``X-Correlation-Id`` is accepted or minted, bound to every log line and
  echoed back, so one id follows a referral end to end.
- Errors are RFC 9457 problem details that name the field and the rule it
  broke, and never echo the submitted values (they may identify a patient).
- A fault the client can wait out (PostgreSQL restarting or out of
  connections, the broker away) is 503 with ``Retry-After``, never a 500:
  the client sends the same request again (with the same ``X-Request-Id``,
  so it is never taken twice). A wing with its own error format (intake's
  FHIR endpoint answers in OperationOutcome) registers its renderer with
  ``render_unavailable``.
"""

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from aiokafka import errors as kafka_errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.trace import SpanKind
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signpost import logs, rate_limit, tracing

CORRELATION_HEADER = "X-Correlation-Id"
PROBLEM_JSON = "application/problem+json"
MAX_CORRELATION_LENGTH = 128
# What the W3C trace context and baggage propagators (OpenTelemetry's defaults) read from a request.
TRACE_CONTEXT_HEADERS = ("traceparent", "tracestate", "baggage")
# A referral is a few kilobytes; a FHIR Bundle a few tens. Refuse anything
# far larger before parsing it.
MAX_BODY_BYTES = 256 * 1024
# How long a client should wait before sending again: about what a PostgreSQL restart or failover takes.
RETRY_AFTER_S = 5
# Faults of a dependency that pass by themselves; anything else unexpected is still a 500 (a bug).
UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # the server went away mid-request (ConnectionDoesNotExistError, ...)
    asyncpg.InterfaceError,  # the pool is closing, or its connection was lost
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    ConnectionError,  # refused or reset while reconnecting
    TimeoutError,  # a pool acquire or query that ran out of time
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.RequestTimedOutError,
)
# (path prefix, render(retry_after_s, detail)) for wings that answer errors in a format of their own.
_UNAVAILABLE_RENDERERS: list[tuple[str, Callable[[int, str], Response]]] = []
log = logs.get_logger()


def problem(
    status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Pydantic errors as (field, rule, message) without the offending input."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        out.append(
            {
                "field": ".".join(loc) or "(body)",
                "rule": str(err.get("type", "invalid")),
                "message": str(err.get("msg", "")),
            }
        )
    return out


class Conventions:
    """Body limit and correlation id as plain ASGI middleware.

    Starlette's ``BaseHTTPMiddleware`` runs each request through extra tasks
    and memory streams; on intake's hot path it cost about a quarter of the
    CPU per referral, so these two small jobs are done directly on the ASGI
    messages instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
        }
        declared = headers.get("content-length")
        if declared is not None and (
            not declared.isdigit() or int(declared) > MAX_BODY_BYTES
        ):
            await _too_large(scope, receive, send)
            return
        if declared is None and scope["method"] in {"POST", "PUT", "PATCH"}:
            # A chunked body has no declared size: read it here, up to the limit, and hand it on whole.
            body = await _read_limited(receive)
            if body is None:
                await _too_large(scope, receive, send)
                return
            receive = _replay(body)
        supplied = headers.get(CORRELATION_HEADER.lower(), "")
        ok = 0 < len(supplied) <= MAX_CORRELATION_LENGTH and supplied.isprintable()
        correlation_id = supplied if ok else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        echoed = (CORRELATION_HEADER.lower().encode(), correlation_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), echoed]}
            await send(message)

        # Only the trace context headers: the propagators read nothing else, and ``continuing`` copies its carrier.
        carrier = {k: headers[k] for k in TRACE_CONTEXT_HEADERS if k in headers}
        with (
            structlog.contextvars.bound_contextvars(correlation_id=correlation_id),
            tracing.continuing(
                f"{scope['method']} {scope['path']}", carrier, kind=SpanKind.SERVER
            ),
        ):
            await self.app(scope, receive, send_with_id)


async def _read_limited(receive: Receive) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return body


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem(
        413, "Content Too Large", f"the body must be at most {MAX_BODY_BYTES} bytes"
    )
    await response(scope, receive, send)


def render_unavailable(prefix: str, render: Callable[[int, str], Response]) -> None:
    """Answer a dependency fault under ``prefix`` with ``render(retry_after_s, detail)`` instead of problem details."""
    _UNAVAILABLE_RENDERERS[:] = [
        (p, r) for p, r in _UNAVAILABLE_RENDERERS if p != prefix
    ] + [(prefix, render)]


def unavailable_response(path: str, exc: Exception) -> Response:
    """503 with Retry-After for a fault the client can wait out, in the format of the wing that was asked."""
    what = (
        "the message broker"
        if isinstance(exc, kafka_errors.KafkaError)
        else "its database"
    )
    detail = (
        f"the service cannot reach {what} just now; nothing is lost by waiting: send the same request again"
        f" (with the same X-Request-Id) after {RETRY_AFTER_S} seconds"
    )
    render = next((r for p, r in _UNAVAILABLE_RENDERERS if path.startswith(p)), None)
    if render is not None:
        response = render(RETRY_AFTER_S, detail)
    else:
        response = problem(
            503,
            "Service Unavailable",
            detail,
            type_="https://signpost.example/problems/unavailable",
        )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def install(app: FastAPI) -> None:
    app.add_middleware(Conventions)
    without_fastapi_spans(app)

    async def unavailable(request: Request, exc: Exception) -> Response:
        # The type only: a driver's message may quote the statement's values.
        log.warning(
            "dependency unavailable, answered 503",
            path=request.url.path,
            error=type(exc).__name__,
        )
        return unavailable_response(request.url.path, exc)

    for fault in UNAVAILABLE:
        app.add_exception_handler(fault, unavailable)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc)
        first = errors[0] if errors else {"field": "(body)", "message": "invalid"}
        return problem(
            422,
            "Invalid referral"
            if request.url.path.startswith("/v1/referrals")
            else "Invalid request",
            f"{first['field']}: {first['message']}",
            type_="https://signpost.example/problems/validation",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    # Abuse limits (signpost/rate_limit.py): the same 429 with Retry-After, as an OperationOutcome on FHIR paths.
    app.add_exception_handler(rate_limit.RateLimited, rate_limit.refused)


def without_fastapi_spans(app: FastAPI) -> None:
    """Leave the request's span to ``Conventions``: FastAPI's own telemetry made a second server span per request.

    FastAPI (0.16x) traces each request, its dependencies and its endpoint once a global tracer provider is set
    (as ``tracing.configure`` did until it kept its provider to itself, and as OpenTelemetry's auto-instrumentation
    still would). Those spans start from the incoming headers too, so each request had two unrelated server spans,
    and they cost about a fifth of intake's CPU per referral (issue 17). ``FastAPI(telemetry=...)``
    keeps its setting in this dict (``fastapi/applications.py``); the request metrics and logs it offers stay.
    """
    app._telemetry["tracing"] = False


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
