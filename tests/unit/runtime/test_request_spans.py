"""One span per HTTP request, the one ``Conventions`` starts from the incoming trace context.

FastAPI's own telemetry would add a server span per request and one for its
dependencies and its endpoint: unrelated to the referral's trace, and about a
fifth of intake's CPU per referral.
"""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from signpost import http, tracing

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def finished() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure("test", SimpleSpanProcessor(exporter))
    yield exporter
    tracing.configure("test")  # back to propagating only


def app_with_conventions() -> FastAPI:
    app = FastAPI()
    http.install(app)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def test_a_request_makes_one_server_span_in_the_callers_trace(
    finished: InMemorySpanExporter,
) -> None:
    transport = httpx.ASGITransport(app=app_with_conventions())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/ping", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    spans = finished.get_finished_spans()
    assert [(s.name, s.kind) for s in spans] == [("GET /ping", SpanKind.SERVER)]
    assert spans[0].context.trace_id == int(TRACEPARENT.split("-")[1], 16)
