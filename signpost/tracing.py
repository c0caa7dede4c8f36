"""OpenTelemetry trace context across Kafka hops: one referral, one trace.

The HTTP request that submits a referral starts the trace. Every event
written to an outbox carries the current context in a W3C ``traceparent``
header; every consumer continues the trace of the record it handles. So the
submitted, routed, delivered and outcome events of one referral share one
trace id, whichever process handled them.

Spans are exported only where an exporter is configured (set
``OTEL_EXPORTER_OTLP_ENDPOINT`` and install ``opentelemetry-exporter-otlp``);
the context propagates either way, and audit records the trace id.

Without an exporter no span is made at all: an SDK span per consumed record
(ids, sampler, attributes, processors) cost tens of microseconds and went
nowhere. The carried context is made current as it came, so an outgoing
event names the same trace, sampled flag and parent span as the incoming
one: a service that records nothing leaves no gap in a trace that another
service exports. Where nothing is carried, a new trace starts, sampled, as
the SDK's default sampler would start it.
"""

import contextlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
)

_ids = RandomIdGenerator()
# What the SDK gives a root span it samples: sampled, and a trace id drawn at random (W3C level 2).
_NEW_TRACE_FLAGS = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
"""Signpost's tracer while spans are exported; None while nothing would receive them, and no span is made."""


def configure(service: str, processor: SpanProcessor | None = None) -> None:
    """Export spans through ``processor``, or through OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

    With neither, spans are not made, only propagated. A later call replaces an earlier one, whose
    processors are shut down (their spans flushed).
    """
    global _provider, _tracer
    exporting = processor or _otlp_processor()
    if _provider is not None:
        _provider.shutdown()
    _provider = _tracer = None
    if exporting is None:
        return
    _provider = TracerProvider(
        resource=Resource.create({"service.name": f"signpost-{service}"})
    )
    _provider.add_span_processor(exporting)
    _tracer = _provider.get_tracer("signpost")


def _otlp_processor() -> SpanProcessor | None:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None  # context still propagates; spans are simply not exported
    return BatchSpanProcessor(OTLPSpanExporter())


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (traceparent) to outgoing headers."""
    propagate.inject(headers)
    return headers


@contextlib.contextmanager
def continuing(
    name: str, carrier: Mapping[str, str], kind: SpanKind = SpanKind.CONSUMER
) -> Iterator[Span]:
    """Run a block in the trace carried in ``carrier``: in a span of its own where spans are exported."""
    carried = propagate.extract(carrier)
    if _tracer is not None:
        with _tracer.start_as_current_span(name, context=carried, kind=kind) as span:
            yield span
        return
    span = trace.get_current_span(carried)
    if not span.get_span_context().is_valid:
        span = NonRecordingSpan(
            SpanContext(
                _ids.generate_trace_id(),
                _ids.generate_span_id(),
                is_remote=False,
                trace_flags=_NEW_TRACE_FLAGS,
            )
        )
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        context.detach(token)


def trace_id_of(headers: Mapping[str, str]) -> str | None:
    """The trace id in a W3C traceparent header (version-traceid-spanid-flags)."""
    parts = headers.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
