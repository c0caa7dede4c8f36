"""``make bench-audit``: how fast the audit log grows, and what keeping and checking it costs.

Records ``--events`` rows (whole referrals, ``len(FLOW)`` rows each) through
the audit consumer's own path: ``recorder.parse``, the inbox claim and
``recorder.record``, one transaction per batch of ``consumer_batch_size``.
They go into a scratch database on the configured PostgreSQL, never into a
real log (it is append-only: benchmark rows could not be taken out again).
Reports bytes per row (table, indexes and TOAST), rows recorded per second,
GB per million referrals and the time ``signpost audit verify`` takes. A
report, not a test: figures vary with the machine.
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.table import Table

from benchmarks.mix import BASE
from deploy.postgres import local as postgres_local
from deploy.processes import port_open
from services.audit.handlers import recorder
from services.audit.store.chains import verify
from signpost import consumer, database
from signpost.settings import get_settings

RESULTS = Path(__file__).parent / "results"
MIGRATIONS = Path(__file__).parents[1] / "services" / "audit" / "migrations"
SCRATCH = "signpost_bench_audit"
PHARMACY, PRACTICE = "demo-pharmacy", "H81001"
OUTCOMES = ("accepted", "patient_contacted", "completed")
FLOW = (
    ["referral.submitted", "referral.routed", "agency.referral", "assignment.delivered"]
    + ["assignment.outcome", "practice.feedback"] * len(OUTCOMES)
    + ["access.recorded"] * 2
)
"""The rows one Pharmacy First referral leaves in a normal flow: submitted, routed, the agency's copy, delivered;
per outcome reported over HTTP (accepted, patient contacted, completed) the outcome and the practice's feedback;
two reads (the pharmacy opening the case, the GP checking on it). An agency reporting on its Kafka outcomes
topic adds an ``agency.outcome`` row per report; a multi-need referral repeats the agency part per agency."""
console = Console()


def referral_flow(start: datetime) -> list[tuple[str, dict[str, Any]]]:
    """One referral's events as the services publish them (topic, event), shaped after a recorded run."""
    referral_id, journey_id, correlation_id, assignment_id = (
        str(uuid.uuid4()) for _ in range(4)
    )
    patient_key = hashlib.sha256(referral_id.encode()).hexdigest()
    ticks = iter(range(len(FLOW)))

    def event(kind: str, producer: str, **fields: Any) -> dict[str, Any]:
        at = start + timedelta(seconds=next(ticks))
        return {
            "type": kind,
            "version": 1,
            "event_id": str(uuid.uuid4()),
            "producer": producer,
            "occurred_at": at.isoformat(),
            "patient_key": patient_key,
            "referral_id": referral_id,
            "correlation_id": correlation_id,
            **fields,
        }

    assignment = {
        "needs": ["sore_throat"],
        "reason": "Pharmacy First (sore_throat): the patient's chosen pharmacy, open and"
        " not closing within 30 minutes",
        "rule_id": "pharmacy-first",
        "agency_id": PHARMACY,
        "network_id": "croydon-north",
        "service_id": PHARMACY,
        "service_type": "community_pharmacy",
        "assignment_id": assignment_id,
        "replaces_assignment_id": None,
    }
    ours = {
        "journey_id": journey_id,
        "agency_id": PHARMACY,
        "assignment_id": assignment_id,
    }
    events = [
        (
            "referral.submitted",
            event("referral.submitted", "intake", referral=BASE, journey_id=journey_id),
        ),
        (
            "referral.routed",
            event(
                "referral.routed",
                "router",
                referral=BASE,
                journey_id=journey_id,
                assignments=[assignment],
                rule_set_version="168afb048978",
                notes_to_referrer=[],
            ),
        ),
        (
            f"agency.{PHARMACY}.referrals",
            event(
                "agency.referral",
                "notifier",
                version=2,
                referral=BASE,
                assignment=assignment,
                journey_id=journey_id,
            ),
        ),
        (
            "assignment.delivered",
            event("assignment.delivered", "notifier", channel="kafka", **ours),
        ),
    ]
    previous = "delivered"
    for outcome in OUTCOMES:
        detail = {
            "completion": "advice_given" if outcome == "completed" else None,
            "note": None,
            "decline_reason": None,
        }
        events.append(
            (
                "assignment.outcome",
                event(
                    "assignment.outcome",
                    "notifier",
                    outcome=outcome,
                    previous_state=previous,
                    reported_by="agency-demo-pharmacy",
                    service_type="community_pharmacy",
                    **detail,
                    **ours,
                ),
            )
        )
        message = f"Pharmacy First at FA001 (community pharmacy) {outcome.replace('_', ' ')} the referral."
        summary = {
            "outcome": outcome,
            "contacted_at": None,
            "completed_at": None,
            **detail,
        }
        events.append(
            (
                f"practice.{PRACTICE}.feedback",
                event(
                    "practice.feedback",
                    "notifier",
                    status=outcome,
                    message=message,
                    summary=summary,
                    practice_ods=PRACTICE,
                    service_type="community_pharmacy",
                    **ours,
                ),
            )
        )
        previous = outcome
    for client, organisation, role, function in (
        ("agency-demo-pharmacy", "FA001", "agency", "read agency referral"),
        ("gp-h81001", PRACTICE, "referrer", "read referral"),
    ):
        events.append(
            (
                "signpost.access",
                event(
                    "access.recorded",
                    "intake",
                    client_id=client,
                    organisation=organisation,
                    role=role,
                    function=function,
                    outcome="granted",
                    detail=None,
                ),
            )
        )
    return events


def projection(table_bytes: int, rows: int, rows_per_referral: int) -> dict[str, float]:
    """Bytes per row, and what a million referrals would take at that size."""
    per_row = table_bytes / max(rows, 1)
    return {
        "bytes_per_row": round(per_row),
        "gb_per_million_referrals": round(per_row * rows_per_referral * 1e6 / 1e9, 2),
    }


def _records(
    flows: Iterator[tuple[str, dict[str, Any]]], first_offset: int
) -> list[ConsumerRecord[Any, Any]]:
    """Kafka records as the consumer receives them, each with a trace header (audit keeps its trace id)."""
    records = []
    for offset, (topic, event) in enumerate(flows, start=first_offset):
        value = json.dumps(event).encode()
        traceparent = [
            (
                "traceparent",
                f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode(),
            )
        ]
        records.append(
            ConsumerRecord(
                topic, 0, offset, 0, 0, None, value, None, 0, len(value), traceparent
            )
        )
    return records


async def record(
    url: str,
    events: int,
    batch_size: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Record whole referrals' flows, batch by batch, as the audit consumer does; time only the transactions
    (by ``clock``: wall-clock by default, ``time.process_time`` for this process's CPU)."""
    referrals = max(1, events // len(FLOW))
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    stream = (
        e for n in range(referrals) for e in referral_flow(start + timedelta(minutes=n))
    )
    pool = await database.connect(url, "audit", max_size=2)
    try:
        await database.migrate(pool, "audit", MIGRATIONS)
        busy, offset = 0.0, 0
        while records := _records(islice(stream, batch_size), offset):
            offset += len(records)
            began = clock()
            async with pool.acquire() as conn, conn.transaction():
                await consumer._handle_batch(
                    conn,
                    records,
                    "signpost-audit",
                    recorder.parse,
                    recorder.record,
                    lambda e: e.event_id,
                    consumer.DEFAULT_MAX_EVENT_BYTES,
                )
            busy += clock() - began
        sizes = await pool.fetchrow(
            "SELECT count(*) AS rows, pg_total_relation_size('audit.audit_log') AS total,"
            " pg_relation_size('audit.audit_log') AS heap, pg_indexes_size('audit.audit_log') AS indexes,"
            " pg_total_relation_size('audit.processed_events') AS inbox FROM audit.audit_log"
        )
    finally:
        await pool.close()
    assert sizes is not None
    rows = sizes["rows"]
    return {
        "referrals": referrals,
        "rows": rows,
        "rows_per_referral": len(FLOW),
        "batch_size": batch_size,
        "record_seconds": round(busy, 2),
        "rows_per_s": round(rows / busy),
        "table_bytes": sizes["total"],
        "heap_bytes": sizes["heap"],
        "index_bytes": sizes["indexes"],
        "toast_bytes": sizes["total"] - sizes["heap"] - sizes["indexes"],
        "inbox_bytes_per_row": round(sizes["inbox"] / max(rows, 1)),
        **projection(sizes["total"], rows, len(FLOW)),
    }


async def timed_verify(url: str) -> dict[str, Any]:
    began = time.perf_counter()
    result = await verify(url)
    seconds = time.perf_counter() - began
    return {
        "ok": result.ok,
        "rows": result.rows_checked,
        "verify_seconds": round(seconds, 2),
        "verify_us_per_row": round(seconds / max(result.rows_checked, 1) * 1e6, 1),
        "verify_seconds_per_million_rows": round(
            seconds / max(result.rows_checked, 1) * 1e6
        ),
    }


async def _scratch(server_url: str, name: str, create: bool) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url.rpartition('/')[0]}/{name}"


async def run(
    server_url: str,
    events: int,
    batch_size: int,
    keep: bool = False,
    scratch: str = SCRATCH,
) -> dict[str, Any]:
    url = await _scratch(server_url, scratch, create=True)
    try:
        results = {
            "started_at": datetime.now(UTC).isoformat(),
            "flow": FLOW,
            **await record(url, events, batch_size),
        }
        results.update(await timed_verify(url))
    finally:
        if not keep:
            await _scratch(server_url, scratch, create=False)
    return results


async def _answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """The configured PostgreSQL if it answers, else the local one, started here and stopped after."""
    url = get_settings().database_url
    if asyncio.run(_answers(url)):
        yield url
        return
    node = postgres_local.default_node()
    was_running = port_open(node.host, node.port)
    print(
        f"no PostgreSQL at the configured URL; starting the local one on port {node.port} ...",
        flush=True,
    )
    try:
        yield postgres_local.start(node)
    finally:
        if not was_running:
            postgres_local.stop(node)


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"Audit log growth: {results['rows']:,} rows, {results['referrals']:,} referrals"
    )
    table.add_column("measure")
    table.add_column("result", justify="right")
    mb = 2**20
    for name, value in (
        ("bytes per row (table + indexes + TOAST)", f"{results['bytes_per_row']:,}"),
        (
            "  of which heap / indexes / TOAST, MB",
            f"{results['heap_bytes'] / mb:.1f} / {results['index_bytes'] / mb:.1f} / "
            f"{results['toast_bytes'] / mb:.1f}",
        ),
        (
            "inbox (processed_events) bytes per row",
            f"{results['inbox_bytes_per_row']:,}",
        ),
        ("rows recorded per second", f"{results['rows_per_s']:,}"),
        ("rows per referral (normal flow)", str(results["rows_per_referral"])),
        ("GB per million referrals", str(results["gb_per_million_referrals"])),
        (
            "verify: seconds (µs per row)",
            f"{results['verify_seconds']} ({results['verify_us_per_row']})",
        ),
        (
            "verify: seconds per million rows",
            f"{results['verify_seconds_per_million_rows']:,}",
        ),
        ("chain intact", str(results["ok"])),
    ):
        table.add_row(name, value)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.audit_growth", description=__doc__
    )
    parser.add_argument(
        "--events",
        type=int,
        default=20_000,
        help="rows to record (rounded down to whole referrals)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=get_settings().consumer_batch_size
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"leave the scratch database {SCRATCH} for a look",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with postgres() as server_url:
        results = asyncio.run(run(server_url, args.events, args.batch_size, args.keep))
    report(results)
    args.out.mkdir(exist_ok=True)
    path = args.out / "audit_growth.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"results written to {path}")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
