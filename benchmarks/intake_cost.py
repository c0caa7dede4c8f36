"""Intake's CPU per accepted referral over HTTP: the figure to hold a change to intake's HTTP path against.

Starts the test infrastructure and a four-service stack the way the tests do
(``tests/support``, so the ``SIGNPOST_TEST_*`` ports apply), warms intake up,
then submits ``--referrals`` referrals (the benchmark's mix, each with its own
X-Request-Id) from ``--clients`` concurrent clients, ``--repeats`` times. Each
run reports intake's process CPU time (user + system, as /proc/<pid>/stat
counts it) divided by the referrals it accepted, and the load average, since a
loaded machine inflates CPU time too. Throughput is printed but is not the
figure: it swings with whatever else the machine runs.

    python -m benchmarks.intake_cost --referrals 2000 --clients 32 --repeats 2
"""

import argparse
import asyncio
import os
from typing import Any

from rich.progress import Progress

from benchmarks import pipeline, processes

os.environ.setdefault("SIGNPOST_DEVELOPMENT_MODE", "1")
UNLIMITED = {
    f"SIGNPOST_RATE_LIMIT_{role}": "1000000/minute"
    for role in ("REFERRER", "AGENCY", "OPERATIONS")
}


def intake_cpu_s(pid: int) -> float:
    return processes.cpu_seconds([processes.Watched("intake", pid)])["intake"]


async def one_run(
    intake: str, pid: int, referrals: int, clients: int
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    cpu_before = intake_cpu_s(pid)
    with Progress(disable=True) as progress:
        sent = await pipeline.intake_max(intake, referrals, clients, progress)
    spent = intake_cpu_s(pid) - cpu_before
    accepted = sent["accepted"]
    return {
        "accepted": accepted,
        "intake_cpu_ms_per_referral": round(spent * 1000 / max(accepted, 1), 3),
        "accepted_per_s": sent["per_s"],
        "load_average_1m": (round(load_before, 2), round(os.getloadavg()[0], 2)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.intake_cost", description=__doc__)
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warm-up", type=int, default=300)
    args = parser.parse_args(argv)
    from tests.support.infrastructure import provide
    from tests.support.running_stack import running

    with (
        provide() as infra,
        running(infra, "intake_cost", extra_env=UNLIMITED) as stack,
    ):
        intake = stack.url("intake")
        port = int(intake.rsplit(":", 1)[1])
        (watched,) = [
            p for p in processes.discover({"intake": port}) if p.name == "intake"
        ]
        asyncio.run(one_run(intake, watched.pid, args.warm_up, args.clients))
        for run in range(1, args.repeats + 1):
            result = asyncio.run(
                one_run(intake, watched.pid, args.referrals, args.clients)
            )
            print(f"run {run}: {result}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
