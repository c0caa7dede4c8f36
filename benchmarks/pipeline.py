"""``make bench``: CPU per referral for every process, latency and throughput, beside raw-Kafka baselines.

Phases, one after another on the same stack, each measured from its start
until everything it caused is handled (``benchmarks.settle``), so no phase
leaves work, or CPU, to the next:
1. steady rates over HTTP (``--rates``, England's peak is about 12/s):
   submit → routed, → on the agency's topic, → audited (p50/p95/p99);
2. at maximum: as fast as intake takes them (``--concurrency`` clients,
   durable, through the outbox), the same latencies and throughput;
3. outcomes: the demo pharmacy works the first phase's referrals (declines rerouted);
4. pipeline: submissions stored as intake stores them, timed to audited;
5. baselines: a bare aiokafka relay with the same topology, and Kafka's own
   ProducerPerformance and EndToEndLatency.

Per phase: CPU ms per referral of each service, the Kafka JVM, all
PostgreSQL processes and (apart) the load generator, from process CPU
times (``benchmarks.processes``): the figure that stays put on a busy
machine, where throughput and latency do not. And each phase's dead
letters, which must be zero. Prints tables and writes JSON into
``results/``. Targets are reported against, never asserted.
"""

import argparse
import asyncio
import hashlib
import json
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from benchmarks import baselines, mix, processes, settle
from schemas.events import ReferralSubmitted
from schemas.referral import Referral
from services.intake.store import referrals as intake_referrals
from signpost.outbox import notify_channel
from toolbox.stack import REPO, SERVICES
from toolbox.tokens import dev_token
from toolbox.topic_reader import read_all, read_topics

# Issue 17's targets (2 cores, everything on one machine).
TARGETS = {
    "system_cpu_ms_per_referral": 3,
    "pipeline_records_per_s": 1500,
    "end_to_end_per_s": 600,
    "p99_submit_to_agency_ms_at_12_per_s": 100,
    "p99_submit_to_agency_ms_at_50_per_s": 250,
    "cores_at_12_per_s": 0.25,
    "service_rss_mb": 150,
    "pipeline_to_relay_ratio": 0.3,
}
console = Console(
    width=170
)  # the per-process table is wide; a pipe or narrow terminal would cut its figures


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {
        "n": len(values),
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": round(ordered[-1], 1),
    }


async def submit_at_rate(
    intake: str, rate: float, seconds: float, progress: Progress, seed: int = 7
) -> dict[str, Any]:
    """POST the referral mix at a steady rate; return submit time (epoch ms) per accepted referral id, and what fell short."""
    total = int(rate * seconds)
    task = progress.add_task(
        f"latency run: {total} referrals at {rate:.0f}/s (mixed)", total=total
    )
    rng = random.Random(seed)
    sent: dict[str, float] = {}
    kinds: dict[str, str] = {}
    failures: Counter[str] = Counter()
    tokens = {
        client: {"Authorization": f"Bearer {dev_token(client)}"}
        for client in (mix.GP, mix.ICN_PHARMACIST)
    }
    # A referral that cannot be sent on time waits; it is counted as late, never dropped or retried twice.
    async with httpx.AsyncClient(
        timeout=60,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    ) as client:

        async def one(submission: mix.Submission) -> None:
            t0 = time.time() * 1000
            try:
                response = await client.post(
                    f"{intake}/v1/referrals",
                    json=submission.body,
                    headers=tokens[submission.client],
                )
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] += 1
            else:
                if response.status_code == 202:
                    sent[response.json()["referral_id"]] = t0
                    kinds[response.json()["referral_id"]] = submission.kind
                else:
                    failures[f"HTTP {response.status_code}"] += 1
            progress.advance(task)

        started = time.perf_counter()
        pending = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(mix.submission(rng))))
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    return {
        "sent": sent,
        "kinds": kinds,
        "failures": dict(failures),
        "achieved_per_s": round(len(sent) / elapsed, 1),
    }


async def intake_max(
    intake: str, total: int, concurrency: int, progress: Progress, seed: int = 11
) -> dict[str, Any]:
    task = progress.add_task(f"intake at maximum: {total} POSTs (mixed)", total=total)
    rng = random.Random(seed)
    submissions = [mix.submission(rng) for _ in range(total)]
    tokens = {
        client: {"Authorization": f"Bearer {dev_token(client)}"}
        for client in (mix.GP, mix.ICN_PHARMACIST)
    }
    accepted = 0
    sent: dict[str, float] = {}
    retried = [0]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    async with httpx.AsyncClient(
        timeout=60, limits=httpx.Limits(max_connections=concurrency)
    ) as client:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                submission = submissions[queue.get_nowait()]
                # A request lost on the wire is sent again with the same X-Request-Id: intake answers it once.
                headers = {
                    **tokens[submission.client],
                    "X-Request-Id": str(uuid.uuid4()),
                }
                t0 = time.time() * 1000
                for attempt in range(3):
                    try:
                        response = await client.post(
                            f"{intake}/v1/referrals",
                            json=submission.body,
                            headers=headers,
                        )
                        break
                    except httpx.TransportError:
                        retried[0] += 1
                        if attempt == 2:
                            raise
                if response.status_code == 202:
                    accepted += 1
                    sent[response.json()["referral_id"]] = t0
                progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "sent": sent,
        "accepted": accepted,
        "seconds": round(elapsed, 2),
        "per_s": round(accepted / elapsed, 1),
        "resent": retried[0],
    }


async def pipeline_stored(
    database_url: str, total: int, progress: Progress
) -> dict[str, Any]:
    """Store submissions as intake stores them (its own function, its own tables), then time them to audited.

    Only what intake would have stored goes in: events on ``referral.submitted`` that intake never held
    made intake dead-letter every resulting ``referral.routed``, one transaction each, for minutes,
    and starved the phases after. Here intake's relay publishes them, exactly as after a POST.
    """
    run = f"bench-{uuid.uuid4().hex[:10]}"
    rng = random.Random(3)
    variants = [Referral.model_validate(mix.submission(rng).body) for _ in range(200)]
    now = datetime.now(UTC)
    events = [
        ReferralSubmitted(
            event_id=uuid.uuid4(),
            occurred_at=now,
            correlation_id=run,
            journey_id=uuid.uuid4(),
            producer="intake",
            patient_key=hashlib.sha256(f"{run}:{i}".encode()).hexdigest(),
            referral_id=uuid.uuid4(),
            referral=variants[i % len(variants)],
        )
        for i in range(total)
    ]
    task = progress.add_task(
        f"pipeline at maximum: {total} stored submissions", total=total
    )
    started = time.perf_counter()
    conn = await asyncpg.connect(
        database_url, server_settings={"search_path": "intake"}
    )
    try:
        async with conn.transaction():
            for event in events:
                await intake_referrals.record_submission(
                    conn, event, client_id="bench", source="bench"
                )
            await conn.execute("SELECT pg_notify($1, '')", notify_channel("intake"))
    finally:
        await conn.close()
    stored_s = time.perf_counter() - started
    ids = [str(e.referral_id) for e in events]
    done, finished = await settle.wait_audited(database_url, ids)
    progress.update(task, completed=done)
    elapsed = finished - started
    return {
        "ids": ids,
        "records": total,
        "audited": done,
        "store_seconds": round(stored_s, 2),
        "seconds": round(elapsed, 2),
        "per_s": round(done / elapsed, 1),
    }


async def latencies(
    bootstrap: str, database_url: str, sent: dict[str, float]
) -> dict[str, Any]:
    """Kafka's CreateTime is the outbox relay's publish time; every clock here is this machine's."""
    routed = await read_all(bootstrap, "referral.routed", wait_s=60)
    delivered = [
        d
        for d in await read_all(bootstrap, "assignment.delivered", wait_s=60)
        if d.get("referral_id") in sent
    ]
    agency_topics = sorted({f"agency.{d['agency_id']}.referrals" for d in delivered})
    copies = (
        await read_topics(bootstrap, agency_topics, wait_s=120) if agency_topics else []
    )
    routed_ms = [
        m["_ts"] - sent[m["referral_id"]]
        for m in routed
        if m.get("referral_id") in sent
    ]
    # A referral is on its agencies' topics when the last of its copies is.
    last_copy: dict[str, float] = {}
    for m in copies:
        if m.get("referral_id") in sent:
            last_copy[m["referral_id"]] = max(
                last_copy.get(m["referral_id"], 0.0), m["_ts"]
            )
    agency_ms = [at - sent[rid] for rid, at in last_copy.items()]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT referral_id::text AS rid, max(recorded_at) AS at FROM audit.audit_log"
            " WHERE referral_id = ANY($1::uuid[]) AND event_type = 'assignment.delivered' GROUP BY 1",
            list(sent),
        )
    finally:
        await conn.close()
    audited_ms = [r["at"].timestamp() * 1000 - sent[r["rid"]] for r in rows]
    return {
        "submit_to_routed_ms": percentiles(routed_ms),
        "submit_to_agency_topic_ms": percentiles(agency_ms),
        "submit_to_audited_ms": percentiles(audited_ms),
        "agency_topics": len(agency_topics),
    }


async def outcomes(
    notifier: str,
    database_url: str,
    sent: dict[str, float],
    progress: Progress,
    seed: int = 5,
) -> dict[str, Any]:
    """The demo pharmacy works its Pharmacy First referrals: four in five to completion, one in five declined (rerouted)."""
    conn = await asyncpg.connect(database_url)
    try:
        assignments = [
            str(a)
            for a in await conn.fetchval(
                "SELECT coalesce(array_agg(assignment_id), '{}') FROM notifier.deliveries"
                " WHERE agency_id = 'demo-pharmacy' AND referral_id = ANY($1::uuid[])",
                list(sent),
            )
        ]
    finally:
        await conn.close()
    rng = random.Random(seed)
    plans = {
        a: (
            ["declined"]
            if rng.random() < 0.2
            else ["accepted", "patient_contacted", "completed"]
        )
        for a in assignments
    }
    task = progress.add_task(
        f"outcomes: {sum(map(len, plans.values()))} reports on {len(plans)} assignments",
        total=len(plans),
    )
    recorded: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {dev_token('agency-demo-pharmacy')}"}
    async with httpx.AsyncClient(
        timeout=60, headers=headers, limits=httpx.Limits(max_connections=16)
    ) as client:
        semaphore = asyncio.Semaphore(16)

        async def work(assignment_id: str, steps: list[str]) -> None:
            async with semaphore:
                for outcome in steps:
                    detail = (
                        {"completion": "advice_given"} if outcome == "completed" else {}
                    )
                    if outcome == "declined":
                        detail = {"decline_reason": "not_available_in_timescale"}
                    url = f"{notifier}/v1/assignments/{assignment_id}/outcomes"
                    recorded[
                        (
                            await client.post(url, json={"outcome": outcome, **detail})
                        ).status_code
                    ] += 1
            progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(work(a, steps) for a, steps in plans.items()))
        elapsed = time.perf_counter() - started
    declined = [a for a, steps in plans.items() if steps == ["declined"]]
    return {
        "assignments": len(plans),
        "reports": sum(recorded.values()),
        "status": dict(recorded),
        "per_s": round(sum(recorded.values()) / elapsed, 1) if elapsed else 0.0,
        "declined": len(declined),
        "rerouted": await _rerouted(database_url, declined),
    }


async def _rerouted(
    database_url: str, declined: list[str], timeout_s: float = 60.0
) -> int:
    """How many declines the router has reassigned (it must reach all of them)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            count: int = await conn.fetchval(
                "SELECT count(DISTINCT replaces_assignment_id) FROM intake.referral_assignments"
                " WHERE replaces_assignment_id = ANY($1::uuid[])",
                declined,
            )
            if count >= len(declined) or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def audit_growth(database_url: str) -> dict[str, Any]:
    """How fast the audit log grows: bytes per row (table, indexes and TOAST) and rows per referral, projected."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT pg_total_relation_size('audit.audit_log') AS bytes, count(*) AS rows,"
            " count(DISTINCT referral_id) FILTER (WHERE event_type = 'referral.submitted') AS referrals FROM audit.audit_log"
        )
    finally:
        await conn.close()
    assert row is not None
    per_row = row["bytes"] / max(row["rows"], 1)
    per_referral = row["rows"] / max(row["referrals"], 1)
    return {
        "bytes": row["bytes"],
        "rows": row["rows"],
        "referrals": row["referrals"],
        "bytes_per_row": round(per_row),
        "rows_per_referral": round(per_referral, 2),
        "gb_per_million_referrals": round(per_row * per_referral * 1e6 / 1e9, 2),
    }


class Phase:
    """One phase's measurement window: CPU per process and dead letters, from its start until all it caused is handled."""

    def __init__(
        self,
        name: str,
        parts: list[processes.Watched],
        bootstrap: str,
        database_url: str,
    ) -> None:
        self.name, self.parts, self.bootstrap, self.database_url = (
            name,
            parts,
            bootstrap,
            database_url,
        )

    async def __aenter__(self) -> "Phase":
        self.letters = await settle.dead_letters(self.bootstrap)
        self.cpu = processes.cpu_seconds(self.parts)
        self.started = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def close(self, referrals: int) -> dict[str, Any]:
        """Wait until the phase's work is all handled, then read CPU and dead letters: the phase's figures."""
        settled = await settle.wait_settled(self.bootstrap, self.database_url)
        seconds = time.perf_counter() - self.started
        cpu = processes.per_referral_ms(
            self.cpu, processes.cpu_seconds(self.parts), referrals, seconds
        )
        letters = await settle.dead_letters(self.bootstrap) - self.letters
        return {"cpu": cpu, "dead_letters": letters, **settled}


async def http_phase(
    name: str,
    args: argparse.Namespace,
    urls: dict[str, str],
    bootstrap: str,
    database_url: str,
    parts: list[processes.Watched],
    progress: Progress,
    rate: float | None,
) -> dict[str, Any]:
    """Referrals over HTTP at ``rate`` per second (None: as fast as intake takes them), timed until audited."""
    async with Phase(name, parts, bootstrap, database_url) as phase:
        if rate is None:
            load = await intake_max(
                urls["intake"], args.intake_records, args.concurrency, progress
            )
        else:
            load = await submit_at_rate(urls["intake"], rate, args.seconds, progress)
            load["kinds"] = dict(Counter(load["kinds"].values()))
        sent = load.pop("sent")
        through, finished = await settle.wait_audited(database_url, list(sent))
        load["audited"] = through
        load["end_to_end_per_s"] = round(through / (finished - phase.started), 1)
        measured = await phase.close(len(sent))
    return {
        "sent": sent,
        **load,
        **measured,
        "latency": await latencies(bootstrap, database_url, sent),
    }


async def run(
    args: argparse.Namespace,
    stack_urls: dict[str, str],
    bootstrap: str,
    database_url: str,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "args": vars(args),
        "targets": TARGETS,
    }
    ports = {s: int(u.rsplit(":", 1)[1]) for s, u in stack_urls.items()}
    ports["kafka"] = int(bootstrap.rsplit(":", 1)[1])
    ports["postgresql"] = _postgres_port(database_url)
    parts = processes.discover(ports)
    results["processes"] = sorted(p.name for p in parts)
    phases: dict[str, Any] = {}
    # Idle first: what the stack spends per second with nothing to do, which every referral at a low rate carries.
    async with Phase("idle", parts, bootstrap, database_url) as phase:
        await asyncio.sleep(
            args.idle_seconds
        )  # the measuring window itself, not a wait for readiness
        results["idle"] = await phase.close(0)
    with Progress(console=console, transient=False) as progress:
        for rate in args.rates:
            phases[f"at {rate:g}/s"] = await http_phase(
                f"at {rate:g}/s",
                args,
                stack_urls,
                bootstrap,
                database_url,
                parts,
                progress,
                rate,
            )
        phases["at maximum"] = await http_phase(
            "at maximum",
            args,
            stack_urls,
            bootstrap,
            database_url,
            parts,
            progress,
            None,
        )
        first = phases[f"at {args.rates[0]:g}/s"]["sent"]
        async with Phase("outcomes", parts, bootstrap, database_url) as phase:
            worked = await outcomes(
                stack_urls["notifier"], database_url, first, progress
            )
            phases["outcomes"] = {**worked, **await phase.close(worked["reports"])}
        async with Phase("pipeline", parts, bootstrap, database_url) as phase:
            stored = await pipeline_stored(
                database_url, args.pipeline_records, progress
            )
            stored.pop("ids")
            phases["pipeline"] = {**stored, **await phase.close(stored["records"])}
        async with Phase("relay", parts, bootstrap, database_url) as phase:
            relay = await baselines.bare_relay(
                bootstrap, args.pipeline_records, json.dumps(mix.BASE).encode()
            )
            relay_cpu = await phase.close(args.pipeline_records)
    for phase_results in phases.values():
        phase_results.pop("sent", None)
    results["phases"] = phases
    results["rss_mb"] = processes.rss_mb(p for p in parts if p.name in SERVICES)
    results["audit_growth"] = await audit_growth(database_url)
    results["baselines"] = {"relay": {**relay, "cpu": relay_cpu["cpu"]}}
    results["ratios"] = {
        "pipeline_to_relay": round(
            phases["pipeline"]["per_s"] / relay["records_per_s"], 3
        )
    }
    return results


def _postgres_port(url: str) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or 5432


def report(results: dict[str, Any]) -> None:
    phases: dict[str, Any] = results.get("phases", {})
    parts = [*(s for s in SERVICES), "kafka", "postgresql"]
    cpu = Table(
        title="CPU ms per referral, per process (the figure to compare: stable on a busy machine)"
    )
    cpu.add_column("phase")
    for name in [*parts, "system", "cores", processes.LOAD_GENERATOR, "dead letters"]:
        cpu.add_column(name, justify="right")
    idle = results.get("idle", {}).get("cpu", {})
    if idle:
        per_s = idle["ms_per_s"]
        cpu.add_row(
            "idle, ms per s",
            *(f"{per_s.get(p, 0):.2f}" for p in parts),
            f"{idle['system_cores'] * 1000:.2f}",
            str(idle["system_cores"]),
            f"{per_s.get(processes.LOAD_GENERATOR, 0):.2f}",
            str(results["idle"]["dead_letters"]),
        )
    for name, phase in phases.items():
        per = phase["cpu"]["ms_per_referral"]
        cpu.add_row(
            name,
            *(f"{per.get(p, 0):.2f}" for p in parts),
            f"{phase['cpu']['system_ms_per_referral']:.2f}",
            str(phase["cpu"]["system_cores"]),
            f"{per.get(processes.LOAD_GENERATOR, 0):.2f}",
            str(phase["dead_letters"]),
        )
    console.print(cpu)
    table = Table(title="Signpost benchmark")
    table.add_column("measure")
    table.add_column("result", justify="right")
    table.add_column("target", justify="right")
    rows: list[tuple[str, Any, str]] = []
    for name, phase in phases.items():
        if "latency" not in phase:
            continue
        lat = phase["latency"]
        rows += [
            (
                f"{name}: achieved referrals/s (HTTP)",
                phase.get("achieved_per_s", phase.get("per_s")),
                "",
            ),
            (
                f"{name}: end to end, submitted → audited /s",
                phase.get("end_to_end_per_s"),
                "",
            ),
            (
                f"{name}: submit→routed p50/p95/p99 ms",
                _p(lat.get("submit_to_routed_ms")),
                "",
            ),
            (
                f"{name}: submit→agency topic p50/p95/p99 ms",
                _p(lat.get("submit_to_agency_topic_ms")),
                _target(name),
            ),
            (
                f"{name}: submit→audited p50/p95/p99 ms",
                _p(lat.get("submit_to_audited_ms")),
                "",
            ),
        ]
    pipeline = phases.get("pipeline", {})
    worked = phases.get("outcomes", {})
    base = results.get("baselines", {})
    growth = results.get("audit_growth", {})
    rows += [
        (
            "pipeline stored→audited, referrals/s",
            pipeline.get("per_s"),
            f"≥ {TARGETS['pipeline_records_per_s']}",
        ),
        (
            "bare aiokafka relay, records/s",
            base.get("relay", {}).get("records_per_s"),
            "",
        ),
        (
            "pipeline / relay",
            results.get("ratios", {}).get("pipeline_to_relay"),
            f"≥ {TARGETS['pipeline_to_relay_ratio']}",
        ),
        ("agency outcomes recorded/s", worked.get("per_s"), ""),
        (
            "declines rerouted",
            f"{worked.get('rerouted')}/{worked.get('declined')}",
            "all",
        ),
        (
            "Kafka ProducerPerformance records/s",
            base.get("producer_performance", {}).get("records_per_s"),
            "",
        ),
        ("Kafka EndToEndLatency p50/p99 ms", _p(base.get("end_to_end_latency")), ""),
        (
            "service RSS MB",
            json.dumps(results.get("rss_mb")),
            f"≤ {TARGETS['service_rss_mb']} each",
        ),
        (
            "audit log bytes/row, rows/referral",
            f"{growth.get('bytes_per_row')}, {growth.get('rows_per_referral')}",
            "",
        ),
        (
            "audit log GB per million referrals",
            growth.get("gb_per_million_referrals"),
            "",
        ),
    ]
    for name, value, target in rows:
        table.add_row(name, str(value), target)
    console.print(table)


def _target(phase: str) -> str:
    return {"at 12/s": "p99 ≤ 100", "at 50/s": "p99 ≤ 250"}.get(phase, "")


def _p(d: dict[str, Any] | None) -> str:
    """p50 / p95 / p99 of a latency summary (ours: p50; Kafka's tools: p50_ms), or '-'."""
    if not d:
        return "-"
    return " / ".join(
        str(d[k]) for k in ("p50", "p95", "p99", "p50_ms", "p99_ms") if k in d
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.pipeline", description=__doc__)
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[12.0, 50.0],
        help="steady rates for the latency runs (referrals/s)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="length of each steady-rate run"
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="length of the idle measurement",
    )
    parser.add_argument("--pipeline-records", type=int, default=5_000)
    parser.add_argument("--intake-records", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-java-baselines", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "results")
    args = parser.parse_args(argv)
    from toolbox.stack import existing_or_started

    with existing_or_started() as (urls, bootstrap, database_url):
        results = asyncio.run(run(args, urls, bootstrap, database_url))
        if not args.skip_java_baselines:
            results["baselines"]["producer_performance"] = (
                baselines.producer_performance(bootstrap, args.pipeline_records * 10)
            )
            results["baselines"]["end_to_end_latency"] = baselines.end_to_end_latency(
                bootstrap, 2000
            )
    args.out.mkdir(exist_ok=True)
    path = args.out / f"bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    report(results)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
