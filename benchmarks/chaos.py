"""``make chaos``: referrals under load while every part is killed, then proof that nothing was lost or doubled.

A few clients submit referrals at a steady rate. Meanwhile each service is
SIGKILLed at a random point and restarted, the broker is SIGKILLed and
restarted, and PostgreSQL is restarted; faults may overlap, as they do in
life. A client whose request fails (connection error, 5xx) sends it again
with the same X-Request-Id, as a GP system would, so a retry can never become
a second referral. When the load is done and the system has settled, the
counts come from the database and the agency topics:

- every referral answered 202 is stored, routed, delivered and audited exactly once;
- nothing was made that no 202 accounts for, no assignment is duplicated;
- no audit row is duplicated, and the audit chain verifies.

The agency topics may carry a copy twice after a crash (Kafka is at-least-once
between the outbox and the broker); such a copy has the same event id, which
the agency deduplicates on, so it is reported as "redelivered", not as a
second referral. Two copies with different event ids would be a failure.

    python -m benchmarks.chaos --referrals 10000 --seed 7
"""

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import mix
from benchmarks.chaos_counts import ALL_CHECKS, Counts, Once, count, pending
from benchmarks.chaos_faults import ACTIONS, Chaos, Fault, Progress, inject, load

__all__ = [
    "ACTIONS",
    "ALL_CHECKS",
    "Budget",
    "Chaos",
    "Counts",
    "Fault",
    "Once",
    "Outcome",
    "plan_faults",
    "problems",
    "render",
    "run",
    "tally",
]

RESULTS = Path(__file__).resolve().parent / "results"


def plan_faults(seed: int, referrals: int, rounds: int = 1) -> list[Fault]:
    """Every action ``rounds`` times, each once a random number of referrals (10% to 85% of the load) is accepted."""
    rng = random.Random(seed)
    low, high = max(1, referrals // 10), max(2, referrals * 85 // 100)
    return sorted(
        Fault(rng.randint(low, high), action)
        for _ in range(rounds)
        for action in ACTIONS
    )


def problems(c: Counts) -> list[str]:
    """Everything that breaks the promise; empty when nothing was lost or doubled."""
    found = [c.unsettled] if c.unsettled else []
    found += [f"{name}: not counted" for name in ALL_CHECKS if name not in c.once]
    for name, once in c.once.items():
        if once.missing:
            found.append(f"{name}: {once.missing} of {once.expected} missing")
        if once.doubled:
            found.append(f"{name}: {once.doubled} of {once.expected} more than once")
        if once.extra:
            found.append(f"{name}: {once.extra} for no accepted referral or assignment")
    for label, n in (
        ("one referral id answered to two submissions", c.answered_twice),
        ("assignments duplicated", c.assignments_duplicated),
        ("audit rows duplicated (same event id)", c.audit_rows_duplicated),
    ):
        if n:
            found.append(f"{label}: {n}")
    if not c.chain_ok:
        found.append(f"audit chain: {c.chain_summary or 'not verified'}")
    return found


def tally(c: Counts) -> dict[str, int]:
    """The headline: lost and duplicated must be 0; redelivered copies (same event id) are allowed."""
    return {
        "lost": sum(o.missing for o in c.once.values()),
        "duplicated": sum(o.doubled + o.extra for o in c.once.values())
        + c.answered_twice
        + c.assignments_duplicated
        + c.audit_rows_duplicated,
        "redelivered": c.agency_copies - c.agency_copies_distinct,
    }


@dataclass
class Outcome:
    counts: Counts
    seconds: dict[str, float]


@dataclass(frozen=True)
class Budget:
    """How long each stage may take before the run gives up and says which stage and why.

    Every wait is bounded so that a stuck run fails with its reason instead of running into
    pytest's timeout, which names nothing. The defaults suit ``make chaos``; the CI test passes
    smaller ones that add up to less than its timeout.
    """

    give_up_s: float = 300.0
    """A client's time to get one referral accepted, retries included."""
    settle_s: float = 600.0
    """Time for every accepted referral to be stored, routed, delivered and audited, and every outbox drained."""
    read_s: float = 180.0
    """Time to read the agency topics to their end."""


async def settle(
    database_url: str,
    accepted: list[str],
    say: Callable[[str], None],
    timeout_s: float = 600,
) -> str:
    """Poll until nothing is missing and every outbox is drained; on timeout, say what is still outstanding."""
    deadline = time.monotonic() + timeout_s
    last_said = 0.0
    waiting: int | None = None
    while time.monotonic() < deadline:
        waiting = await pending(database_url, accepted)
        if waiting == 0:
            return ""
        if time.monotonic() - last_said >= 2:
            last_said = time.monotonic()
            say(
                f"settling: {'database unreachable' if waiting is None else f'{waiting} outstanding'}"
            )
        await asyncio.sleep(0.2)
    left = (
        "PostgreSQL unreachable"
        if waiting is None
        else f"{waiting} rows or outbox records outstanding"
    )
    return f"not settled within {timeout_s:.0f}s: {left}"


async def run(
    chaos: Chaos,
    referrals: int,
    seed: int,
    rate: float,
    clients: int,
    rounds: int = 1,
    say: Callable[[str], None] = print,
    budget: Budget = Budget(),
) -> Outcome:
    """Load with faults, settle, count. ``chaos`` must be started."""
    stack = chaos.stack
    assert stack is not None
    rng = random.Random(seed)
    submissions = [mix.submission(rng) for _ in range(referrals)]
    plan = plan_faults(seed, referrals, rounds)
    state = Progress(started=time.monotonic())

    async def report() -> None:
        while True:
            await asyncio.sleep(2)
            elapsed = time.monotonic() - state.started
            done = len(state.accepted)
            rate_now = (
                f"{done / ((state.loaded or time.monotonic()) - state.started):.0f}/s"
            )
            say(
                f"[{elapsed:4.0f}s] accepted {done}/{referrals} ({rate_now})  retried {sum(state.retries.values())}"
                f"  faults recovered {len(state.faults)}/{len(plan)}"
            )

    reporter = asyncio.create_task(report())
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                load(
                    stack.url("intake"),
                    submissions,
                    rate,
                    clients,
                    state,
                    budget.give_up_s,
                )
            )
            group.create_task(inject(chaos, plan, state, say))
    finally:
        reporter.cancel()
    recovered = time.monotonic()
    say(f"load and faults: {recovered - state.started:.1f}s")
    unsettled = await settle(
        stack.database_url,
        state.accepted,
        lambda text: say(f"[{time.monotonic() - state.started:4.0f}s] {text}"),
        budget.settle_s,
    )
    settled = time.monotonic()
    say(f"settled: {settled - recovered:.1f}s")
    counts = await count(
        stack.database_url, stack.kafka_bootstrap, state.accepted, budget.read_s
    )
    say(f"counted: {time.monotonic() - settled:.1f}s")
    counts.retries, counts.faults, counts.unsettled = (
        dict(state.retries),
        list(state.faults),
        unsettled,
    )
    # Seconds since the first referral was sent.
    marks = {
        "last_202": state.loaded or recovered,
        "faults_recovered": recovered,
        "settled": settled,
        "counted": time.monotonic(),
    }
    return Outcome(counts, {k: round(v - state.started, 1) for k, v in marks.items()})


def render(outcome: Outcome, referrals: int) -> list[str]:
    c, s = outcome.counts, outcome.seconds
    lines = [f"faults ({len(c.faults)}):", *(f"  {f}" for f in c.faults), ""]
    lines.append(
        f"last 202 at {s['last_202']}s ({c.accepted / max(s['last_202'], 0.1):.0f} accepted/s); faults recovered by"
        f" {s['faults_recovered']}s; settled by {s['settled']}s; counted by {s['counted']}s"
    )
    lines.append(f"retried by the clients (same X-Request-Id): {c.retries or 'none'}")
    lines.append(
        f"accepted (202) {c.accepted} of {referrals}; unroutable {c.unroutable}; assignments {c.assignments}"
    )
    lines += [
        "",
        f"  {'exactly once per key':<44}{'expected':>9}{'once':>9}{'missing':>9}{'twice+':>9}{'unasked':>9}",
    ]
    for name, o in c.once.items():
        lines.append(
            f"  {name:<44}{o.expected:>9}{o.expected - o.missing - o.doubled:>9}{o.missing:>9}{o.doubled:>9}{o.extra:>9}"
        )
    lines += [
        "",
        f"agency copies on the topics: {c.agency_copies} records, {c.agency_copies_distinct} distinct event ids",
        f"one referral id for two submissions: {c.answered_twice}; assignments duplicated: {c.assignments_duplicated};"
        f" audit rows with a duplicated event id: {c.audit_rows_duplicated}",
        f"audit chain: {c.chain_summary}",
        "",
        "   ".join(f"{k}: {v}" for k, v in tally(c).items())
        + "  (redelivered = same event id again on an agency topic)",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.chaos",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="referrals per second, all clients together",
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent HTTP clients"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="how many times each fault happens"
    )
    parser.add_argument("--kafka-port", type=int, default=24092)
    parser.add_argument("--postgres-port", type=int, default=24432)
    parser.add_argument(
        "--port-base",
        type=int,
        default=24000,
        help="the services listen on the next four ports",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="signpost-chaos-"))
    chaos = Chaos(
        state,
        args.kafka_port,
        args.postgres_port,
        args.port_base,
        say=lambda text: print(text, flush=True),
    )
    print(
        f"starting Kafka, PostgreSQL and the four services in {state} ...", flush=True
    )
    started = time.monotonic()
    try:
        chaos.start()
        print(
            f"started in {time.monotonic() - started:.0f}s; {args.referrals} referrals at {args.rate:g}/s",
            flush=True,
        )
        outcome = asyncio.run(
            run(
                chaos,
                args.referrals,
                args.seed,
                args.rate,
                args.clients,
                args.rounds,
                lambda t: print(t, flush=True),
            )
        )
    finally:
        chaos.stop()
    found = problems(outcome.counts)
    print("\n" + "\n".join(render(outcome, args.referrals)))
    print(
        "PASS: nothing lost, nothing duplicated, chain intact"
        if not found
        else "FAIL:\n  " + "\n  ".join(found)
    )
    record = {
        "counts": asdict(outcome.counts),
        "tally": tally(outcome.counts),
        "seconds": outcome.seconds,
        "problems": found,
        "args": vars(args),
    }
    return finish(
        args.out / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json",
        record,
        found,
        state,
    )


def finish(
    path: Path, record: Mapping[str, object], found: list[str], state: Path
) -> int:
    """Write the run's results; keep its state and logs if it failed, else remove them; the exit status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str))
    print(f"results written to {path}")
    if found:
        # The services' and servers' logs are what a failure is investigated from.
        print(f"state and logs kept in {state}")
        return 1
    shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
