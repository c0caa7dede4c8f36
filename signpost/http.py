"""HTTP conventions shared by every service's API.

- ``X-Correlation-Id`` is accepted or minted, bound to every log line and
  echoed back, so one id follows a referral end to end.
- Errors are RFC 9457 problem details that name the field and the rule it
  broke, and never echo the submitted values (they may identify a patient).
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from starlette.exceptions import HTTPException as StarletteHTTPException

from signpost import tracing

CORRELATION_HEADER = "X-Correlation-Id"
PROBLEM_JSON = "application/problem+json"
MAX_CORRELATION_LENGTH = 128
# A referral is a few kilobytes; a FHIR Bundle a few tens. Refuse anything
# far larger before parsing it.
MAX_BODY_BYTES = 256 * 1024


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any) -> JSONResponse:
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


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return problem(413, "Content Too Large", f"the body must be at most {MAX_BODY_BYTES} bytes")
        if declared is None and request.method in {"POST", "PUT", "PATCH"}:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return problem(413, "Content Too Large", f"the body must be at most {MAX_BODY_BYTES} bytes")
            request._body = body
        return await call_next(request)

    @app.middleware("http")
    async def correlation(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        supplied = request.headers.get(CORRELATION_HEADER, "")
        ok = 0 < len(supplied) <= MAX_CORRELATION_LENGTH and supplied.isprintable()
        correlation_id = supplied if ok else str(uuid.uuid4())
        request.state.correlation_id = correlation_id
        span_name = f"{request.method} {request.url.path}"
        with (
            structlog.contextvars.bound_contextvars(correlation_id=correlation_id),
            tracing.continuing(span_name, request.headers, kind=SpanKind.SERVER),
        ):
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc)
        first = errors[0] if errors else {"field": "(body)", "message": "invalid"}
        return problem(
            422,
            "Invalid referral" if request.url.path.startswith("/v1/referrals") else "Invalid request",
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


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
