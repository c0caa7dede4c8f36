"""A schema of its own for an integration test: the runtime's tables plus a service's migrations, as a service has."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg

from signpost import database

ROOT = Path(__file__).parents[2]
NOTIFIER_MIGRATIONS = ROOT / "services" / "notifier" / "migrations"
NO_SERVICE_MIGRATIONS = ROOT / "tests" / "no-such-folder"


@contextlib.asynccontextmanager
async def fresh_schema(
    database_url: str, prefix: str, migrations: Path = NO_SERVICE_MIGRATIONS
) -> AsyncIterator[asyncpg.Pool]:
    schema = f"{prefix}_{uuid4().hex[:10]}"
    pool = await database.connect(database_url, schema)
    await database.migrate(pool, schema, migrations)
    try:
        yield pool
    finally:
        await pool.close()
