"""``make bench``: the pipeline's throughput and latency, beside raw-Kafka baselines.

Phases, all on this machine:
1. latency at a target rate: referrals over HTTP at ``--rate`` per second;
   submit → routed, → on the agency's topic, → audited (p50/p95/p99);
2. intake's HTTP acceptance rate at maximum (durable, through the outbox);
3. pipeline throughput at maximum: submitted events injected straight onto
   ``referral.submitted``, timed until audit has every delivery;
4. baselines: Kafka's ProducerPerformance and EndToEndLatency, and a bare
   aiokafka relay with the same topology;
5. resident memory of each service.

Prints a table and writes JSON into ``results/``. Targets are reported
against, never asserted: this is a measurement, not a test.
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
import psutil
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from benchmarks import baselines, mix
from schemas.events import ReferralSubmitted
from schemas.referral import Referral
from toolbox.stack import REPO, SERVICES
from toolbox.tokens import dev_token
from toolbox.topic_reader import read_all, read_topics

TARGETS = {
    "pipeline_records_per_s": 5000,
    "intake_http_per_s": 2000,
    "p99_submit_to_agency_ms_at_200_per_s": 50,
    "service_rss_mb": 150,
    "pipeline_to_relay_ratio": 0.7,
}
console = Console()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {"n": len(values), "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": round(ordered[-1], 1)}


async def submit_at_rate(intake: str, rate: float, seconds: float, progress: Progress, seed: int = 7) -> dict[str, Any]:
    """POST the referral mix at a steady rate; return submit time (epoch ms) per accepted referral id, and what fell short."""
    total = int(rate * seconds)
    task = progress.add_task(f"latency run: {total} referrals at {rate:.0f}/s (mixed)", total=total)
    rng = random.Random(seed)
    sent: dict[str, float] = {}
    kinds: dict[str, str] = {}
    failures: Counter[str] = Counter()
    tokens = {client: {"Authorization": f"Bearer {dev_token(client)}"} for client in (mix.GP, mix.ICN_PHARMACIST)}
    # A referral that cannot be sent on time waits; it is counted as late, never dropped or retried twice.
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)) as client:

        async def one(submission: mix.Submission) -> None:
            t0 = time.time() * 1000
            try:
                response = await client.post(f"{intake}/v1/referrals", json=submission.body, headers=tokens[submission.client])
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
    return {"sent": sent, "kinds": kinds, "failures": dict(failures), "achieved_per_s": round(len(sent) / elapsed, 1)}


async def intake_max(intake: str, total: int, concurrency: int, progress: Progress, seed: int = 11) -> dict[str, Any]:
    task = progress.add_task(f"intake at maximum: {total} POSTs (mixed)", total=total)
    rng = random.Random(seed)
    submissions = [mix.submission(rng) for _ in range(total)]
    tokens = {client: {"Authorization": f"Bearer {dev_token(client)}"} for client in (mix.GP, mix.ICN_PHARMACIST)}
    accepted = 0
    retried = [0]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                submission = submissions[queue.get_nowait()]
                # A request lost on the wire is sent again with the same X-Request-Id: intake answers it once.
                headers = {**tokens[submission.client], "X-Request-Id": str(uuid.uuid4())}
                for attempt in range(3):
                    try:
                        response = await client.post(f"{intake}/v1/referrals", json=submission.body, headers=headers)
                        break
                    except httpx.TransportError:
                        retried[0] += 1
                        if attempt == 2:
                            raise
                accepted += response.status_code == 202
                progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"accepted": accepted, "seconds": round(elapsed, 2), "per_s": round(accepted / elapsed, 1), "resent": retried[0]}


async def pipeline_max(bootstrap: str, database_url: str, total: int, progress: Progress) -> dict[str, Any]:
    """Inject submitted events at full speed; time until audit holds every delivery."""
    run = f"bench-{uuid.uuid4().hex[:10]}"
    rng = random.Random(3)
    variants = [Referral.model_validate(mix.submission(rng).body) for _ in range(200)]
    now = datetime.now(UTC)
    events = [
        ReferralSubmitted(
            event_id=uuid.uuid4(), occurred_at=now, correlation_id=run, journey_id=uuid.uuid4(), producer="bench",
            patient_key=hashlib.sha256(f"{run}:{i}".encode()).hexdigest(), referral_id=uuid.uuid4(),
            referral=variants[i % len(variants)],
        )
        for i in range(total)
    ]  # fmt: skip
    task = progress.add_task(f"pipeline at maximum: {total} submitted events", total=total)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    futures = [
        await producer.send("referral.submitted", e.model_dump_json().encode(), key=e.patient_key.encode()) for e in events
    ]
    await asyncio.gather(*futures)
    await producer.stop()
    produced_s = time.perf_counter() - started
    conn = await asyncpg.connect(database_url)
    try:
        done = 0
        deadline = time.monotonic() + 900
        while done < total and time.monotonic() < deadline:
            # A referral is through when audit holds its last delivery: its assignments are all delivered.
            done = await conn.fetchval(
                "SELECT count(*) FROM (SELECT referral_id FROM audit.audit_log WHERE correlation_id = $1"
                " AND event_type IN ('referral.routed', 'assignment.delivered') GROUP BY referral_id"
                " HAVING count(*) FILTER (WHERE event_type = 'assignment.delivered') = max(jsonb_array_length("
                "CASE WHEN event_type = 'referral.routed' THEN payload->'assignments' END))) AS through",
                run,
            )
            progress.update(task, completed=done)
            if done < total:
                await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    async with asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool:
        events_audited = await pool.fetchval("SELECT count(*) FROM audit.audit_log WHERE correlation_id = $1", run)
    return {"records": total, "audited": done, "inject_seconds": round(produced_s, 2), "seconds": round(elapsed, 2),
            "per_s": round(done / elapsed, 1), "audit_events": events_audited,
            "audit_events_per_s": round(events_audited / elapsed, 1)}  # fmt: skip


async def latencies(bootstrap: str, database_url: str, sent: dict[str, float]) -> dict[str, Any]:
    """Kafka's CreateTime is the outbox relay's publish time; every clock here is this machine's."""
    routed = await read_all(bootstrap, "referral.routed", wait_s=60)
    delivered = [d for d in await read_all(bootstrap, "assignment.delivered", wait_s=60) if d.get("referral_id") in sent]
    agency_topics = sorted({f"agency.{d['agency_id']}.referrals" for d in delivered})
    copies = await read_topics(bootstrap, agency_topics, wait_s=120) if agency_topics else []
    routed_ms = [m["_ts"] - sent[m["referral_id"]] for m in routed if m.get("referral_id") in sent]
    # A referral is on its agencies' topics when the last of its copies is.
    last_copy: dict[str, float] = {}
    for m in copies:
        if m.get("referral_id") in sent:
            last_copy[m["referral_id"]] = max(last_copy.get(m["referral_id"], 0.0), m["_ts"])
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


async def outcomes(notifier: str, database_url: str, sent: dict[str, float], progress: Progress, seed: int = 5) -> dict[str, Any]:
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
    plans = {a: (["declined"] if rng.random() < 0.2 else ["accepted", "patient_contacted", "completed"]) for a in assignments}
    task = progress.add_task(f"outcomes: {sum(map(len, plans.values()))} reports on {len(plans)} assignments", total=len(plans))
    recorded: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {dev_token('agency-demo-pharmacy')}"}
    async with httpx.AsyncClient(timeout=60, headers=headers, limits=httpx.Limits(max_connections=16)) as client:
        semaphore = asyncio.Semaphore(16)

        async def work(assignment_id: str, steps: list[str]) -> None:
            async with semaphore:
                for outcome in steps:
                    detail = {"completion": "advice_given"} if outcome == "completed" else {}
                    if outcome == "declined":
                        detail = {"decline_reason": "not_available_in_timescale"}
                    url = f"{notifier}/v1/assignments/{assignment_id}/outcomes"
                    recorded[(await client.post(url, json={"outcome": outcome, **detail})).status_code] += 1
            progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(work(a, steps) for a, steps in plans.items()))
        elapsed = time.perf_counter() - started
    declined = [a for a, steps in plans.items() if steps == ["declined"]]
    return {"assignments": len(plans), "reports": sum(recorded.values()), "status": dict(recorded),
            "per_s": round(sum(recorded.values()) / elapsed, 1) if elapsed else 0.0, "declined": len(declined),
            "rerouted": await _rerouted(database_url, declined)}  # fmt: skip


async def _rerouted(database_url: str, declined: list[str], timeout_s: float = 60.0) -> int:
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
    return {"bytes": row["bytes"], "rows": row["rows"], "referrals": row["referrals"], "bytes_per_row": round(per_row),
            "rows_per_referral": round(per_referral, 2),
            "gb_per_million_referrals": round(per_row * per_referral * 1e6 / 1e9, 2)}  # fmt: skip


def service_rss_mb() -> dict[str, float]:
    out: dict[str, float] = {}
    for proc in psutil.process_iter(["cmdline", "memory_info"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        for service in SERVICES:
            if cmd.endswith(f"-m services.{service}"):
                out[service] = round(proc.info["memory_info"].rss / 2**20, 1)
    return out


def report(results: dict[str, Any]) -> None:
    table = Table(title="Signpost benchmark")
    table.add_column("measure")
    table.add_column("result", justify="right")
    table.add_column("target", justify="right")
    lat = results.get("latency", {})
    growth = results.get("audit_growth", {})
    rows = [
        ("pipeline submitted→audited, records/s", results.get("pipeline", {}).get("per_s"), f"≥ {TARGETS['pipeline_records_per_s']}"),
        ("bare aiokafka relay, records/s", results.get("baselines", {}).get("relay", {}).get("records_per_s"), ""),
        ("pipeline / relay", results.get("ratios", {}).get("pipeline_to_relay"), f"≥ {TARGETS['pipeline_to_relay_ratio']}"),
        ("intake HTTP accepted/s", results.get("intake", {}).get("per_s"), f"≥ {TARGETS['intake_http_per_s']}"),
        ("submit→routed p50/p99 ms", _p(lat.get("submit_to_routed_ms")), ""),
        ("submit→agency topic p50/p99 ms", _p(lat.get("submit_to_agency_topic_ms")), f"p99 ≤ {TARGETS['p99_submit_to_agency_ms_at_200_per_s']}"),
        ("submit→audited p50/p99 ms", _p(lat.get("submit_to_audited_ms")), ""),
        ("latency run achieved referrals/s", results.get("at_rate", {}).get("achieved_per_s"), f"{results['args']['rate']}"),
        ("agency outcomes recorded/s", results.get("outcomes", {}).get("per_s"), ""),
        ("declines rerouted", f"{results.get('outcomes', {}).get('rerouted')}/{results.get('outcomes', {}).get('declined')}", "all"),
        ("Kafka ProducerPerformance records/s", results.get("baselines", {}).get("producer_performance", {}).get("records_per_s"), ""),
        ("Kafka EndToEndLatency p50/p99 ms", _p(results.get("baselines", {}).get("end_to_end_latency")), ""),
        ("service RSS MB", json.dumps(results.get("rss_mb")), f"≤ {TARGETS['service_rss_mb']} each"),
        ("audit log bytes/row, rows/referral", f"{growth.get('bytes_per_row')}, {growth.get('rows_per_referral')}", ""),
        ("audit log GB per million referrals", growth.get("gb_per_million_referrals"), ""),
    ]  # fmt: skip
    for name, value, target in rows:
        table.add_row(name, str(value), target)
    console.print(table)


def _p(d: dict[str, Any] | None) -> str:
    return f"{d.get('p50')} / {d.get('p99')}" if d else "-"


async def run(args: argparse.Namespace, stack_urls: dict[str, str], bootstrap: str, database_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "args": vars(args), "targets": TARGETS}
    with Progress(console=console, transient=False) as progress:
        at_rate = await submit_at_rate(stack_urls["intake"], args.rate, args.seconds, progress)
        sent = at_rate.pop("sent")
        results["at_rate"] = {**at_rate, "kinds": dict(Counter(at_rate["kinds"].values()))}
        results["pipeline"] = await pipeline_max(bootstrap, database_url, args.pipeline_records, progress)
        results["latency"] = await latencies(bootstrap, database_url, sent)
        results["outcomes"] = await outcomes(stack_urls["notifier"], database_url, sent, progress)
        results["intake"] = await intake_max(stack_urls["intake"], args.intake_records, args.concurrency, progress)
        relay = await baselines.bare_relay(bootstrap, args.pipeline_records, json.dumps(mix.BASE).encode())
    results["rss_mb"] = service_rss_mb()
    results["audit_growth"] = await audit_growth(database_url)
    results["baselines"] = {"relay": relay}
    results["ratios"] = {"pipeline_to_relay": round(results["pipeline"]["per_s"] / relay["records_per_s"], 3)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.pipeline", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="target rate for the latency run (referrals/s)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pipeline-records", type=int, default=20_000)
    parser.add_argument("--intake-records", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-java-baselines", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "results")
    args = parser.parse_args(argv)
    from toolbox.stack import existing_or_started

    with existing_or_started() as (urls, bootstrap, database_url):
        results = asyncio.run(run(args, urls, bootstrap, database_url))
        if not args.skip_java_baselines:
            results["baselines"]["producer_performance"] = baselines.producer_performance(bootstrap, args.pipeline_records * 10)
            results["baselines"]["end_to_end_latency"] = baselines.end_to_end_latency(bootstrap, 2000)
    args.out.mkdir(exist_ok=True)
    path = args.out / f"bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    report(results)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
