"""One referral, one trace: the carried context goes on, with spans made only where they are exported."""

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from signpost import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
CARRIED = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}


@pytest.fixture(autouse=True)
def no_exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    tracing.configure("test")
    yield
    tracing.configure("test")


def test_without_an_exporter_an_outgoing_event_carries_the_incoming_trace() -> None:
    with tracing.continuing("consume referral.submitted", CARRIED):
        outgoing = tracing.inject({"event-type": "referral.routed"})
    assert tracing.trace_id_of(outgoing) == TRACE_ID
    assert outgoing["traceparent"].endswith("-01"), (
        "the sampled flag goes on as it came"
    )


def test_without_an_exporter_no_span_is_recorded() -> None:
    with tracing.continuing("consume referral.submitted", CARRIED) as span:
        assert not span.is_recording()


def test_without_a_carried_trace_a_new_sampled_one_starts() -> None:
    with tracing.continuing("POST /v1/referrals", {}, kind=SpanKind.SERVER):
        first = tracing.inject({})
    with tracing.continuing("POST /v1/referrals", {}, kind=SpanKind.SERVER):
        second = tracing.inject({})
    assert tracing.trace_id_of(first) not in (None, tracing.trace_id_of(second))
    assert int(first["traceparent"][-2:], 16) & 0x01, "sampled, as the SDK starts one"


def test_outside_a_handled_record_nothing_is_carried() -> None:
    with tracing.continuing("consume referral.submitted", CARRIED):
        pass
    assert tracing.inject({}) == {}


def test_with_an_exporter_each_record_is_a_span_in_the_carried_trace() -> None:
    exported = InMemorySpanExporter()
    tracing.configure("test", SimpleSpanProcessor(exported))
    with tracing.continuing("consume referral.submitted", CARRIED) as span:
        assert span.is_recording()
        outgoing = tracing.inject({})
    (finished,) = exported.get_finished_spans()
    assert finished.name == "consume referral.submitted"
    assert finished.kind is SpanKind.CONSUMER
    assert f"{finished.context.trace_id:032x}" == TRACE_ID
    assert finished.parent is not None
    assert f"{finished.parent.span_id:016x}" == PARENT_SPAN_ID
    # The next hop's parent is this span.
    assert outgoing["traceparent"].split("-")[1:3] == [
        TRACE_ID,
        f"{finished.context.span_id:016x}",
    ]
    assert finished.resource.attributes["service.name"] == "signpost-test"


def test_configuring_again_without_an_exporter_stops_recording() -> None:
    tracing.configure("test", SimpleSpanProcessor(InMemorySpanExporter()))
    tracing.configure("test")
    with tracing.continuing("consume referral.submitted", CARRIED) as span:
        assert not span.is_recording()
