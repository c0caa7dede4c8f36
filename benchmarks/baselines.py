"""Raw-Kafka baselines run in the same session as the pipeline benchmark.

- Kafka's own ``ProducerPerformance`` and ``EndToEndLatency`` tools, from the
  jars the launcher resolved: what the broker alone does on this machine.
- A bare aiokafka relay with the pipeline's topology (submitted → routed →
  delivered → audited: three consume-produce hops) and no business logic:
  what Python and aiokafka alone do. Pipeline/relay is the overhead ratio.
"""

import asyncio
import re
import subprocess
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.kafka.local import cache_dir
from signpost.topics import ensure_topics


def _tool(main: str, *args: str) -> str:
    cp = f"{cache_dir() / 'lib'}/*"
    result = subprocess.run(
        ["java", "-Xmx512m", "-cp", cp, main, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout + result.stderr


def producer_performance(
    bootstrap: str, records: int, size: int = 1000
) -> dict[str, float]:
    topic = f"bench.producer-perf.{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(bootstrap, {topic: 6}))
    out = _tool(
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "enable.idempotence=true",
    )
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    rate = float(re.search(r"([\d.]+) records/sec", last).group(1))  # type: ignore[union-attr]
    p99 = float(re.search(r"([\d.]+) ms 99th", last).group(1))  # type: ignore[union-attr]
    return {"records_per_s": rate, "p99_ms": p99, "record_bytes": size}


def end_to_end_latency(
    bootstrap: str, records: int, size: int = 1000
) -> dict[str, float]:
    topic = f"bench.e2e-latency.{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(bootstrap, {topic: 1}))
    out = _tool(
        "org.apache.kafka.tools.EndToEndLatency",
        bootstrap,
        topic,
        str(records),
        "all",
        str(size),
    )
    avg = float(re.search(r"Avg latency: ([\d.]+) ms", out).group(1))  # type: ignore[union-attr]
    pct = re.search(r"Percentiles: 50th = (\d+), 99th = (\d+), 99.9th = (\d+)", out)
    assert pct is not None, out[-500:]
    return {"avg_ms": avg, "p50_ms": float(pct.group(1)), "p99_ms": float(pct.group(2))}


async def _hop(
    bootstrap: str, source: str, target: str | None, n: int, done: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await consumer.start()
    await producer.start()
    seen = 0
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            futures = []
            for records in batches.values():
                for r in records:
                    seen += 1
                    if target:
                        futures.append(await producer.send(target, r.value, key=r.key))
            await asyncio.gather(*futures)
            if batches:
                await consumer.commit()
        done.set()
    finally:
        await consumer.stop()
        await producer.stop()


async def bare_relay(bootstrap: str, n: int, payload: bytes) -> dict[str, Any]:
    """Throughput of three consume→produce hops with commits after each batch, no logic."""
    run = uuid.uuid4().hex[:8]
    topics = [f"bench.relay.{run}.{i}" for i in range(4)]
    await ensure_topics(bootstrap, dict.fromkeys(topics, 6))
    done = asyncio.Event()
    hops = [
        asyncio.create_task(
            _hop(bootstrap, topics[i], topics[i + 1] if i < 3 else None, n, done)
        )
        for i in range(4)
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    started = time.perf_counter()
    futures = [
        await producer.send(topics[0], payload, key=str(i % 997).encode())
        for i in range(n)
    ]
    await asyncio.gather(*futures)
    await producer.stop()
    await asyncio.wait_for(asyncio.gather(*hops), timeout=600)
    elapsed = time.perf_counter() - started
    return {
        "records": n,
        "seconds": round(elapsed, 3),
        "records_per_s": round(n / elapsed, 1),
    }
