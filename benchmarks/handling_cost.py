"""Micro-benchmark of the per-record work around a consumed event: ``python -m benchmarks.handling_cost``.

CPU microseconds per record, with no broker and no database, for each step the consuming path repeats per
record: the log and trace context of ``logs.handling``, a log line inside it, the trace context injected
into an outgoing event, reading a record (headers and parse) and the router's whole pure handling of a
batch of submitted referrals. Process CPU time, the median of several rounds: steadier than wall time on
a shared machine, but still a report, not a test.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord

from benchmarks.router_decide import NOW, directory, referral, rules
from schemas.clock import judged_on
from schemas.events import ReferralSubmitted
from schemas.topics import REFERRAL_SUBMITTED
from services.router.handlers.submitted import _planned
from signpost import logs, tracing
from signpost.consumer import Incoming, _read

RESULTS = Path(__file__).parent / "results"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEADERS = {
    "event-type": "referral.submitted",
    "correlation-id": "corr-bench",
    "traceparent": TRACEPARENT,
}


def submitted() -> ReferralSubmitted:
    return ReferralSubmitted(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id="corr-bench",
        journey_id=uuid.uuid4(),
        producer="intake",
        patient_key="pk-bench-0123456789abcdef",
        referral_id=uuid.uuid4(),
        referral=referral(),
    )


def consumer_record(event: ReferralSubmitted) -> ConsumerRecord[Any, Any]:
    value = event.model_dump_json().encode()
    headers = tuple((k, v.encode()) for k, v in HEADERS.items())
    return ConsumerRecord(
        REFERRAL_SUBMITTED, 0, 7, 0, 0, b"pk", value, None, 2, len(value), headers
    )


def per_record(work: Callable[[], None], records: int, rounds: int) -> float:
    """Median CPU µs per record of ``work``, which handles ``records`` records."""
    work()  # warm caches, as a running consumer has them
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        work()
        samples.append((time.process_time() - start) / records * 1e6)
    return statistics.median(samples)


def steps(records: int) -> dict[str, Callable[[], None]]:
    event = submitted()
    referral_id, correlation_id = event.referral_id, event.correlation_id
    log = logs.get_logger()
    record = consumer_record(event)
    area, rule_set = directory(100), rules(10)
    batch = [
        Incoming(event, REFERRAL_SUBMITTED, 0, i, dict(HEADERS)) for i in range(records)
    ]

    def handling() -> None:
        for _ in range(records):
            with logs.handling(
                REFERRAL_SUBMITTED, HEADERS, referral_id, correlation_id
            ):
                pass

    def handling_and_a_line() -> None:
        for _ in range(records):
            with logs.handling(
                REFERRAL_SUBMITTED, HEADERS, referral_id, correlation_id
            ):
                log.info("referral routed", assignments=1, rule_set_version="bench")

    def handling_and_inject() -> None:
        for _ in range(records):
            with logs.handling(
                REFERRAL_SUBMITTED, HEADERS, referral_id, correlation_id
            ):
                tracing.inject({"event-type": "referral.routed"})

    def read() -> None:
        for _ in range(records):
            _read(record, ReferralSubmitted.model_validate_json)

    def router_planned() -> None:
        with judged_on(NOW.date()):
            _planned(batch, (), area, rule_set)

    return {
        "handling (log and trace context)": handling,
        "handling + one log line": handling_and_a_line,
        "handling + inject traceparent": handling_and_inject,
        "consumer read (headers, parse)": read,
        "router pure handling per record": router_planned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    real_stdout = sys.stdout
    # Log lines go to a file, as a service's do under toolbox.stack (the logger keeps the stdout it was
    # configured with), not to the terminal.
    sys.stdout = tempfile.TemporaryFile("w")  # noqa: SIM115 - held for the whole run
    logs.configure("bench")
    sys.stdout = real_stdout
    tracing.configure("bench")
    rows = {
        name: round(per_record(work, args.records, args.rounds), 1)
        for name, work in steps(args.records).items()
    }
    width = max(map(len, rows))
    print(f"{'step':<{width}} {'CPU µs/record':>14}")
    for name, micros in rows.items():
        print(f"{name:<{width}} {micros:>14}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "handling_cost.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
