"""CPU the audit process spends per 1,000 events recorded (a report, not a test).

Feeds whole referrals' flows through the audit consumer's own path, the
inbox claim and ``recorder.record``, one transaction per batch, into a
scratch database (``audit_growth.record``). It counts this process's CPU
time (user + system, ``time.process_time``) in those transactions, not
wall-clock: on a shared machine the wall clock measures the neighbours,
while CPU per event is what the recorder costs wherever it runs.
PostgreSQL's own CPU is not counted.
"""

import argparse
import asyncio
import json
import time
from typing import Any

from benchmarks.audit_growth import _scratch, postgres, record

SCRATCH = "signpost_bench_audit_cpu"


async def run(server_url: str, events: int, batch_size: int) -> dict[str, Any]:
    url = await _scratch(server_url, SCRATCH, create=True)
    try:
        recorded = await record(url, events, batch_size, clock=time.process_time)
    finally:
        await _scratch(server_url, SCRATCH, create=False)
    cpu = recorded["record_seconds"]
    return {
        "events": recorded["rows"],
        "batch_size": batch_size,
        "cpu_seconds": cpu,
        "cpu_ms_per_1000_events": round(cpu / max(recorded["rows"], 1) * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.audit_cpu", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs; the figure is the lowest (least disturbed) one",
    )
    args = parser.parse_args(argv)
    with postgres() as url:
        runs = [
            asyncio.run(run(url, args.events, args.batch_size))
            for _ in range(args.repeat)
        ]
    best = min(runs, key=lambda r: r["cpu_ms_per_1000_events"])
    print(json.dumps({"runs": [r["cpu_ms_per_1000_events"] for r in runs], **best}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
