"""OpenTelemetry trace context across Kafka hops: one referral, one trace.

The HTTP request that submits a referral starts the trace. Every event
written to an outbox carries the current context in a W3C ``traceparent``
header; every consumer continues the trace of the record it handles. So the
submitted, routed, delivered and outcome events of one referral share one
trace id, whichever process handled them.

Spans are exported only where an exporter is configured (set
``OTEL_EXPORTER_OTLP_ENDPOINT`` and install ``opentelemetry-exporter-otlp``);
the context propagates either way, and audit records the trace id.
"""

import contextlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind

tracer = trace.get_tracer("signpost")
_configured = False


def configure(service: str) -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"signpost-{service}"})
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            pass  # context still propagates; spans are simply not exported
    trace.set_tracer_provider(provider)
    _configured = True


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (traceparent) to outgoing headers."""
    propagate.inject(headers)
    return headers


@contextlib.contextmanager
def continuing(
    name: str, carrier: Mapping[str, str], kind: SpanKind = SpanKind.CONSUMER
) -> Iterator[Span]:
    """Run a block in a span whose parent is the context carried in ``carrier``."""
    with tracer.start_as_current_span(
        name, context=propagate.extract(dict(carrier)), kind=kind
    ) as span:
        yield span


def trace_id_of(headers: Mapping[str, str]) -> str | None:
    """The trace id in a W3C traceparent header (version-traceid-spanid-flags)."""
    parts = headers.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
