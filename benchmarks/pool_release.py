"""What a pooled connection's release costs, with asyncpg's reset and without it (``database.statements``).

``python -m benchmarks.pool_release`` acquires a one-connection pool, runs
``SELECT 1`` and releases it, ``--cycles`` times each way, and prints CPU per
cycle for this process and for the PostgreSQL backend that served it, and the
wall time. Nothing is asserted (speed is for benchmarks, not tests). Written
for issue 17: the reset is a round trip on every request and every batch.
"""

import argparse
import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import psutil

from benchmarks.audit_growth import postgres
from signpost import database


def _backend_cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def _cycles(
    pool: asyncpg.Pool,
    take: Callable[[asyncpg.Pool], contextlib.AbstractAsyncContextManager[Any]],
    cycles: int,
) -> dict[str, float]:
    backend = await pool.fetchval("SELECT pg_backend_pid()")
    for _ in range(200):  # warm: the statement cache, the backend's own caches
        async with take(pool) as conn:
            await conn.fetchval("SELECT 1")
    cpu, server, wall = (
        time.process_time(),
        _backend_cpu_s(backend),
        time.perf_counter(),
    )
    for _ in range(cycles):
        async with take(pool) as conn:
            await conn.fetchval("SELECT 1")
    return {
        "client_us": (time.process_time() - cpu) / cycles * 1e6,
        "postgres_us": (_backend_cpu_s(backend) - server) / cycles * 1e6,
        "wall_us": (time.perf_counter() - wall) / cycles * 1e6,
    }


async def measure(server_url: str, cycles: int) -> list[str]:
    schema = f"bench_release_{uuid.uuid4().hex[:8]}"
    pool = await database.connect(server_url, schema, min_size=1, max_size=1)
    try:
        lines = []
        for name, take in (
            ("reset on release", asyncpg.Pool.acquire),
            ("database.statements", database.statements),
        ):
            r = await _cycles(pool, take, cycles)
            lines.append(
                f"{name:22s} client {r['client_us']:6.1f} us  postgres {r['postgres_us']:6.1f} us"
                f"  wall {r['wall_us']:6.1f} us per acquire, SELECT 1, release"
            )
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return lines
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.pool_release", description=__doc__
    )
    parser.add_argument("--cycles", type=int, default=5000)
    args = parser.parse_args(argv)
    with postgres() as server_url:
        for line in asyncio.run(measure(server_url, args.cycles)):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
