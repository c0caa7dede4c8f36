"""PostgreSQL wiring: one pool per service, pinned to the service's own schema.

Each service owns one schema and never reads another's. Migrations are
plain SQL files applied in order at start-up under an advisory lock, so two
replicas starting together cannot race. The runtime's own tables (outbox,
processed events) are applied to every schema first.
"""

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A pooled connection is a proxy; handlers accept either.
    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
else:
    Conn = asyncpg.Connection

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"


async def connect(
    url: str, schema: str, min_size: int = 1, max_size: int = 10, application_name: str | None = None
) -> asyncpg.Pool:
    """A pool pinned to ``schema``; ``application_name`` (default ``signpost-<schema>``) tells its connections apart."""
    await _ensure_schema(url, schema)
    # A startup parameter, not a SET: the pool's RESET ALL on release keeps it.
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=30,
        server_settings={"search_path": f'"{schema}"', "application_name": application_name or f"signpost-{schema}"},
    )
    assert pool is not None
    return pool


async def _ensure_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()


def _migration_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sql")) if folder.exists() else []


async def migrate(pool: asyncpg.Pool, schema: str, service_migrations: Path) -> list[str]:
    """Apply runtime then service migrations not yet applied; return the names applied."""
    lock_id = int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for kind, folder in (("runtime", RUNTIME_MIGRATIONS), ("service", service_migrations)):
                for path in _migration_files(folder):
                    name = f"{kind}/{path.name}"
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(path.read_text())
                        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                    applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    return applied
