"""A database of its own for a test that needs a service's real schema name (audit's recorder writes to ``audit``)."""

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import asyncpg


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A fresh, empty database on the server of ``server_url``, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"

    async def create(drop: bool = False) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    try:
        yield f"{server_url.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(create(drop=True))
