"""A consumed record's ids on its log lines, and only inside its handling."""

from collections.abc import Iterator

import pytest
import structlog

from signpost import logs, tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}


@pytest.fixture(autouse=True)
def clean_context() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service="router")
    yield
    structlog.contextvars.clear_contextvars()


def test_handling_binds_the_referral_and_correlation_ids() -> None:
    with logs.handling("referral.submitted", HEADERS, 42, "corr-1"):
        bound = structlog.contextvars.get_contextvars()
    assert bound == {
        "service": "router",
        "referral_id": "42",
        "correlation_id": "corr-1",
    }


def test_after_handling_what_was_bound_before_is_bound_again() -> None:
    structlog.contextvars.bind_contextvars(correlation_id="outer")
    with logs.handling("referral.submitted", HEADERS, 42, "corr-1"):
        pass
    assert structlog.contextvars.get_contextvars() == {
        "service": "router",
        "correlation_id": "outer",
    }


def test_a_record_without_a_referral_binds_no_referral_id() -> None:
    with logs.handling("agency.a.outcomes", HEADERS, None, "corr-1"):
        bound = structlog.contextvars.get_contextvars()
    assert "referral_id" not in bound


def test_handling_continues_the_records_trace() -> None:
    with logs.handling("referral.submitted", HEADERS, 42, "corr-1"):
        outgoing = tracing.inject({})
    assert tracing.trace_id_of(outgoing) == TRACE_ID
