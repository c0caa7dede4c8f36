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
import time
import uuid
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

from benchmarks import baselines
from schemas.events import ReferralSubmitted
from schemas.referral import Referral
from signpost.stack import REPO, SERVICES
from tests.support.kafka_reader import read_all

REFERRAL = json.loads((REPO / "tests" / "support" / "data" / "pharmacy_first_referral.json").read_text())
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


async def submit_at_rate(intake: str, token: str, rate: float, seconds: float, progress: Progress) -> dict[str, float]:
    """POST referrals at a steady rate; return submit time (epoch ms) per referral id."""
    total = int(rate * seconds)
    task = progress.add_task(f"latency run: {total} referrals at {rate:.0f}/s", total=total)
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:

        async def one() -> None:
            t0 = time.time() * 1000
            response = await client.post(f"{intake}/v1/referrals", json=REFERRAL)
            if response.status_code == 202:
                sent[response.json()["referral_id"]] = t0
            progress.advance(task)

        started = time.perf_counter()
        pending = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one()))
        await asyncio.gather(*pending)
    return sent


async def intake_max(intake: str, token: str, total: int, concurrency: int, progress: Progress) -> dict[str, Any]:
    task = progress.add_task(f"intake at maximum: {total} POSTs", total=total)
    accepted = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                queue.get_nowait()
                response = await client.post(f"{intake}/v1/referrals", json=REFERRAL)
                accepted += response.status_code == 202
                progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"accepted": accepted, "seconds": round(elapsed, 2), "per_s": round(accepted / elapsed, 1)}


async def pipeline_max(bootstrap: str, database_url: str, total: int, progress: Progress) -> dict[str, Any]:
    """Inject submitted events at full speed; time until audit holds every delivery."""
    run = f"bench-{uuid.uuid4().hex[:10]}"
    referral = Referral.model_validate(REFERRAL)
    now = datetime.now(UTC)
    events = [
        ReferralSubmitted(
            event_id=uuid.uuid4(), occurred_at=now, correlation_id=run, journey_id=uuid.uuid4(), producer="bench",
            patient_key=hashlib.sha256(f"{run}:{i}".encode()).hexdigest(), referral_id=uuid.uuid4(), referral=referral,
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
            done = await conn.fetchval(
                "SELECT count(*) FROM audit.audit_log WHERE correlation_id = $1 AND event_type = 'assignment.delivered'", run
            )
            progress.update(task, completed=done)
            if done < total:
                await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return {"records": total, "audited": done, "inject_seconds": round(produced_s, 2), "seconds": round(elapsed, 2),
            "per_s": round(done / elapsed, 1)}  # fmt: skip


async def latencies(bootstrap: str, database_url: str, sent: dict[str, float], agency_topic: str) -> dict[str, Any]:
    routed = await read_all(bootstrap, "referral.routed", wait_s=60)
    agency = await read_all(bootstrap, agency_topic, wait_s=60)
    # Kafka's CreateTime is the outbox relay's publish time; all clocks are this machine's.
    routed_ms = [m["_ts"] - sent[m["referral_id"]] for m in routed if m.get("referral_id") in sent]
    agency_ms = [m["_ts"] - sent[m["referral_id"]] for m in agency if m.get("referral_id") in sent]
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
    }


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
    rows = [
        ("pipeline submitted→audited, records/s", results.get("pipeline", {}).get("per_s"), f"≥ {TARGETS['pipeline_records_per_s']}"),
        ("bare aiokafka relay, records/s", results.get("baselines", {}).get("relay", {}).get("records_per_s"), ""),
        ("pipeline / relay", results.get("ratios", {}).get("pipeline_to_relay"), f"≥ {TARGETS['pipeline_to_relay_ratio']}"),
        ("intake HTTP accepted/s", results.get("intake", {}).get("per_s"), f"≥ {TARGETS['intake_http_per_s']}"),
        ("submit→routed p50/p99 ms", _p(lat.get("submit_to_routed_ms")), ""),
        ("submit→agency topic p50/p99 ms", _p(lat.get("submit_to_agency_topic_ms")), f"p99 ≤ {TARGETS['p99_submit_to_agency_ms_at_200_per_s']}"),
        ("submit→audited p50/p99 ms", _p(lat.get("submit_to_audited_ms")), ""),
        ("Kafka ProducerPerformance records/s", results.get("baselines", {}).get("producer_performance", {}).get("records_per_s"), ""),
        ("Kafka EndToEndLatency p50/p99 ms", _p(results.get("baselines", {}).get("end_to_end_latency")), ""),
        ("service RSS MB", json.dumps(results.get("rss_mb")), f"≤ {TARGETS['service_rss_mb']} each"),
    ]  # fmt: skip
    for name, value, target in rows:
        table.add_row(name, str(value), target)
    console.print(table)


def _p(d: dict[str, Any] | None) -> str:
    return f"{d.get('p50')} / {d.get('p99')}" if d else "-"


async def run(args: argparse.Namespace, stack_urls: dict[str, str], bootstrap: str, database_url: str) -> dict[str, Any]:
    from signpost.tokens import dev_token

    token = dev_token("gp-h81001")
    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "args": vars(args), "targets": TARGETS}
    with Progress(console=console, transient=False) as progress:
        sent = await submit_at_rate(stack_urls["intake"], token, args.rate, args.seconds, progress)
        results["pipeline"] = await pipeline_max(bootstrap, database_url, args.pipeline_records, progress)
        results["latency"] = await latencies(bootstrap, database_url, sent, "agency.demo-pharmacy.referrals")
        results["intake"] = await intake_max(stack_urls["intake"], token, args.intake_records, args.concurrency, progress)
        relay = await baselines.bare_relay(bootstrap, args.pipeline_records, json.dumps(REFERRAL).encode())
    results["rss_mb"] = service_rss_mb()
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
    from signpost.stack import existing_or_started

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
