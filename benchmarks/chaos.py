"""``make chaos``: referrals under load while every part is killed, then proof that nothing was lost or doubled.

While clients submit referrals, each service is SIGKILLed and restarted at
random points, the broker is SIGKILLed and restarted, and PostgreSQL is
restarted. A client whose request fails sends it again with the same
X-Request-Id, as a GP system would, so a retry can never become a second
referral. When the load is done and the system has settled, the counts are
taken from the database and the topics:

- every referral answered 202 is stored, routed, delivered and audited, once;
- no assignment, delivery or audit row is duplicated;
- the audit chain verifies.

The agency topics may carry a copy twice after a crash (Kafka is at-least-once
between the outbox and the broker); such a copy has the same event id, which
the agency deduplicates on, so it is reported as "redelivered", not as a
second referral.
"""

import argparse
import asyncio
import json
import random
import signal
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks import mix
from deploy.kafka import local as kafka_local
from deploy.postgres import local as postgres_local
from services.audit.verification import verify
from signpost.stack import REPO, SERVICES, Stack, create_topics
from signpost.tokens import dev_token
from signpost.topic_reader import read_topics

ACTIONS = (*(f"kill {s}" for s in SERVICES), "kill broker", "restart postgres")


@dataclass(frozen=True, order=True)
class Fault:
    after: int
    """Carried out once this many referrals have been accepted."""
    action: str


def plan_faults(seed: int, referrals: int, rounds: int = 1) -> list[Fault]:
    """Every action ``rounds`` times, at random points between 10% and 85% of the load, in order."""
    rng = random.Random(seed)
    low, high = max(1, referrals // 10), max(2, referrals * 85 // 100)
    return sorted(Fault(rng.randint(low, high), action) for _ in range(rounds) for action in ACTIONS)


@dataclass
class Counts:
    accepted: int = 0
    answered_twice: int = 0
    stored: int = 0
    decided: int = 0
    decisions_duplicated: int = 0
    assignments: int = 0
    delivered: int = 0
    delivered_audited: int = 0
    audit_rows_duplicated: int = 0
    audit_event_types_duplicated: int = 0
    agency_copies: int = 0
    agency_copies_distinct: int = 0
    chain_ok: bool = False
    chain_summary: str = ""
    faults: list[str] = field(default_factory=list)


def problems(c: Counts) -> list[str]:
    """Everything that breaks the promise; empty when nothing was lost or doubled."""
    found = []
    for name, have in (("stored", c.stored), ("routed", c.decided)):
        if have != c.accepted:
            found.append(f"{c.accepted - have} of {c.accepted} accepted referrals not {name}")
    if c.delivered != c.assignments:
        found.append(f"{c.assignments - c.delivered} of {c.assignments} assignments not delivered")
    if c.delivered_audited != c.assignments:
        found.append(f"{c.assignments - c.delivered_audited} of {c.assignments} deliveries not audited")
    if c.agency_copies_distinct != c.assignments:
        found.append(f"{c.agency_copies_distinct} distinct agency copies for {c.assignments} assignments")
    for name in ("answered_twice", "decisions_duplicated", "audit_rows_duplicated", "audit_event_types_duplicated"):
        if getattr(c, name):
            found.append(f"{name.replace('_', ' ')}: {getattr(c, name)}")
    if not c.chain_ok:
        found.append(f"audit chain: {c.chain_summary}")
    return found


class Chaos:
    def __init__(self, state: Path, kafka_port: int, postgres_port: int, port_base: int) -> None:
        self.kafka = kafka_local.KafkaNode(state / "kafka", port=kafka_port, controller_port=kafka_port + 1)
        self.postgres = postgres_local.PostgresNode(state / "postgres", port=postgres_port)
        self.state = state
        self.ports = {s: port_base + i + 1 for i, s in enumerate(SERVICES)}
        self.stack: Stack | None = None

    def start(self) -> Stack:
        bootstrap = kafka_local.start(self.kafka)
        url = postgres_local.start(self.postgres)
        from services.router.routing import known_agencies

        create_topics(bootstrap, known_agencies())
        self.stack = Stack(bootstrap, url, self.state, ports=self.ports)
        self.stack.start_all()
        return self.stack

    def stop(self) -> None:
        if self.stack:
            self.stack.stop_all()
        kafka_local.stop(self.kafka)
        postgres_local.stop(self.postgres)

    def act(self, action: str) -> None:
        assert self.stack is not None
        if action.startswith("kill ") and action[5:] in SERVICES:
            service = action[5:]
            self.stack.stop_service(service, sig=signal.SIGKILL)
            self.stack.start_service(service)
            self.stack.wait_ready(service, timeout=120)
        elif action == "kill broker":
            kafka_local.kill(self.kafka)
            kafka_local.start(self.kafka)
        elif action == "restart postgres":
            postgres_local.stop(self.postgres)
            postgres_local.start(self.postgres)
        else:
            raise ValueError(f"unknown fault {action!r}")


async def load(intake: str, referrals: int, concurrency: int, seed: int, accepted: list[str], report: Any) -> None:
    """Submit ``referrals``; each is retried with its own X-Request-Id until intake answers 202."""
    rng = random.Random(seed)
    submissions = [mix.submission(rng) for _ in range(referrals)]
    tokens = {c: f"Bearer {dev_token(c, lifetime_s=3600)}" for c in (mix.GP, mix.ICN_PHARMACIST)}
    queue = list(enumerate(submissions))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            _, submission = queue.pop()
            headers = {"Authorization": tokens[submission.client], "X-Request-Id": str(uuid.uuid4())}
            deadline = time.monotonic() + 300
            while True:
                try:
                    response = await client.post(f"{intake}/v1/referrals", json=submission.body, headers=headers)
                    if response.status_code == 202:
                        accepted.append(response.json()["referral_id"])
                        report()
                        break
                    if response.status_code < 500:
                        raise RuntimeError(f"intake refused a valid referral: {response.status_code} {response.text[:200]}")
                except httpx.TransportError:
                    pass  # intake is down or restarting: the same request again, same X-Request-Id
                if time.monotonic() > deadline:
                    raise TimeoutError("a referral was not accepted within 5 minutes")
                await asyncio.sleep(0.3)

    async with httpx.AsyncClient(timeout=20) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


async def faults(chaos: Chaos, plan: list[Fault], accepted: list[str], done: list[str], progress: asyncio.Event) -> None:
    for fault in plan:
        while len(accepted) < fault.after:
            progress.clear()
            await progress.wait()
        started = time.monotonic()
        await asyncio.to_thread(chaos.act, fault.action)
        done.append(f"{fault.action} after {fault.after} accepted ({time.monotonic() - started:.1f}s to recover)")


async def counts(database_url: str, bootstrap: str, accepted: list[str]) -> Counts:
    c = Counts(accepted=len(set(accepted)), answered_twice=len(accepted) - len(set(accepted)))
    conn = await asyncpg.connect(database_url)
    try:
        ids = list(set(accepted))

        async def scalar(sql: str) -> int:
            return int(await conn.fetchval(sql, ids))

        c.stored = await scalar("SELECT count(*) FROM intake.referrals WHERE referral_id = ANY($1::uuid[])")
        c.decided = await scalar("SELECT count(DISTINCT referral_id) FROM router.decisions WHERE referral_id = ANY($1::uuid[])")
        c.decisions_duplicated = await scalar(
            "SELECT count(*) - count(DISTINCT referral_id) FROM router.decisions WHERE referral_id = ANY($1::uuid[])"
        )
        c.assignments = await scalar("SELECT count(*) FROM router.assignments WHERE referral_id = ANY($1::uuid[])")
        c.delivered = await scalar("SELECT count(*) FROM notifier.deliveries WHERE referral_id = ANY($1::uuid[])")
        c.delivered_audited = await scalar(
            "SELECT count(*) FROM audit.audit_log WHERE event_type = 'assignment.delivered' AND referral_id = ANY($1::uuid[])"
        )
        c.audit_rows_duplicated = int(
            await conn.fetchval("SELECT count(*) FROM (SELECT event_id FROM audit.audit_log GROUP BY 1 HAVING count(*) > 1) d")
        )
        c.audit_event_types_duplicated = await scalar(
            "SELECT count(*) FROM (SELECT referral_id, event_type FROM audit.audit_log WHERE referral_id = ANY($1::uuid[])"
            " AND event_type IN ('referral.submitted', 'referral.routed') GROUP BY 1, 2 HAVING count(*) > 1) d"
        )
        agencies = [r["agency_id"] for r in await conn.fetch(
            "SELECT DISTINCT agency_id FROM notifier.deliveries WHERE referral_id = ANY($1::uuid[])", ids)]  # fmt: skip
    finally:
        await conn.close()
    wanted = set(ids)
    copies = [m for m in await read_topics(bootstrap, [f"agency.{a}.referrals" for a in agencies], wait_s=120)
              if m.get("referral_id") in wanted]  # fmt: skip
    c.agency_copies, c.agency_copies_distinct = len(copies), len({m["event_id"] for m in copies})
    result = await verify(database_url)
    c.chain_ok, c.chain_summary = result.ok, result.summary
    return c


async def settle(database_url: str, accepted: list[str], timeout_s: float = 300) -> None:
    """Wait until every accepted referral's deliveries are audited (or the time runs out; the counts will say)."""
    deadline = time.monotonic() + timeout_s
    ids = list(set(accepted))
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(database_url)
            try:
                waiting = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM router.assignments WHERE referral_id = ANY($1::uuid[]))"
                    " - (SELECT count(*) FROM audit.audit_log WHERE event_type = 'assignment.delivered'"
                    " AND referral_id = ANY($1::uuid[])) + ($2 - (SELECT count(*) FROM router.decisions"
                    " WHERE referral_id = ANY($1::uuid[])))",
                    ids, len(ids),
                )  # fmt: skip
            finally:
                await conn.close()
            if waiting == 0:
                return
        except (OSError, asyncpg.PostgresError):
            pass
        await asyncio.sleep(1.0)


async def run(chaos: Chaos, referrals: int, seed: int, concurrency: int, rounds: int = 1) -> tuple[Counts, float]:
    assert chaos.stack is not None
    accepted: list[str] = []
    last_print = [0.0]
    progress = asyncio.Event()

    def report() -> None:
        progress.set()
        if time.monotonic() - last_print[0] > 2:
            last_print[0] = time.monotonic()
            print(f"  {len(accepted)}/{referrals} accepted", flush=True)

    plan = plan_faults(seed, referrals, rounds)
    started = time.monotonic()
    load_task = asyncio.create_task(load(chaos.stack.url("intake"), referrals, concurrency, seed, accepted, report))
    done: list[str] = []
    await asyncio.gather(load_task, faults(chaos, plan, accepted, done, progress))
    await settle(chaos.stack.database_url, accepted)
    elapsed = time.monotonic() - started
    result = await counts(chaos.stack.database_url, chaos.stack.kafka_bootstrap, accepted)
    result.faults = done
    return result, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.chaos", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="how many times each fault happens")
    parser.add_argument("--kafka-port", type=int, default=24092)
    parser.add_argument("--postgres-port", type=int, default=24432)
    parser.add_argument("--port-base", type=int, default=24000)
    parser.add_argument("--out", type=Path, default=REPO / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="signpost-chaos-") as state:
        chaos = Chaos(Path(state), args.kafka_port, args.postgres_port, args.port_base)
        print(f"starting Kafka, PostgreSQL and the four services in {state} ...", flush=True)
        chaos.start()
        try:
            result, elapsed = asyncio.run(run(chaos, args.referrals, args.seed, args.concurrency, args.rounds))
        finally:
            chaos.stop()
    found = problems(result)
    print(f"\nfaults ({len(result.faults)}):")
    for fault in result.faults:
        print(f"  {fault}")
    print(f"\ncounts after {elapsed:.0f}s:")
    for name, value in asdict(result).items():
        if name != "faults":
            print(f"  {name:<30} {value}")
    lost = result.accepted - min(result.stored, result.decided)
    print(f"\nlost: {lost}   duplicated: {result.answered_twice + result.decisions_duplicated + result.audit_rows_duplicated}"
          f"   redelivered agency copies (same event id): {result.agency_copies - result.agency_copies_distinct}")  # fmt: skip
    print("PASS: nothing lost, nothing duplicated, chain intact" if not found else "FAIL:\n  " + "\n  ".join(found))
    args.out.mkdir(exist_ok=True)
    path = args.out / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"counts": asdict(result), "seconds": round(elapsed, 1), "problems": found, "args": vars(args)},
                               indent=2, default=str))  # fmt: skip
    print(f"results written to {path}")
    return 0 if not found else 1


if __name__ == "__main__":
    raise SystemExit(main())
