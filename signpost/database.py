"""PostgreSQL wiring: one pool per service, pinned to the service's own schema.

Each service owns one schema and never reads another's. Migrations are
plain SQL files applied in order at start-up under an advisory lock, so two
replicas starting together cannot race. The runtime's own tables (outbox,
processed events) are applied to every schema first.

A provisioned database (``signpost/database_roles.py``) gives each service a
role of its own that owns its schema, so it migrates it itself. Migrations
always run as the schema's owner: an admin connection (provisioning, an
operator's command as superuser) switches to that role, so every table stays
the owner's; a role that may not (audit's insert-only writer) finds any
pending migration a reason to stop, not something to try.
"""

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A pooled connection is a proxy; handlers accept either.
    Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
else:
    Conn = asyncpg.Connection

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"


class NotProvisioned(Exception):
    """The schema or its migrations need rights this connection's role does not have."""


class _Pooled(asyncpg.Connection):  # type: ignore[misc]
    """A pool's connection, knowing whether its holder left any session state (``statements``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements_only = False

    def promise_statements_only(self) -> None:
        self.statements_only = True


async def _reset(conn: asyncpg.Connection) -> None:
    """On release, asyncpg's reset (advisory locks, cursors, LISTEN, settings), unless ``statements`` vouched.

    asyncpg has rolled back any open transaction before this is called. The reset is a round trip on every
    release, about 100 us of CPU between this process and PostgreSQL (``python -m benchmarks.pool_release``),
    and for the connections that carry each request and each batch it undoes nothing: they hold no session
    state. Any other holder (migrations' advisory lock and SET ROLE, the relay leader's lock and LISTEN) is
    reset as before, whatever it cleaned up itself.
    """
    if isinstance(conn, _Pooled) and conn.statements_only:
        conn.statements_only = False
        return
    await conn.execute(conn.get_reset_query())


@contextlib.asynccontextmanager
async def statements(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    """A pooled connection for statements and transactions only, released without asyncpg's reset.

    The holder promises to leave no session state: no session advisory lock (``pg_advisory_xact_lock`` is
    fine), no LISTEN, no ``SET`` without ``LOCAL``, no cursor ``WITH HOLD``. A transaction left open is still
    rolled back. ``tests/unit/runtime/test_session_state.py`` holds the code to that promise.
    """
    async with pool.acquire() as conn:
        # The pool's proxy hands attributes it lacks to its connection: a _Pooled in a pool made by connect().
        # Any other pool's connection has no such method, and is reset as asyncpg always does.
        promise = getattr(conn, "promise_statements_only", None)
        if promise is not None:
            promise()
        yield conn


async def connect(
    url: str,
    schema: str,
    min_size: int = 1,
    max_size: int = 10,
    application_name: str | None = None,
) -> asyncpg.Pool:
    """A pool pinned to ``schema``; ``application_name`` (default ``signpost-<schema>``) tells its connections apart."""
    await _ensure_schema(url, schema)
    # A startup parameter, not a SET: the pool's RESET ALL on release keeps it.
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=30,
        connection_class=_Pooled,
        reset=_reset,
        server_settings={
            "search_path": f'"{schema}"',
            "application_name": application_name or f"signpost-{schema}",
        },
    )
    assert pool is not None
    return pool


async def _ensure_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            return
        # Only an unprovisioned database (every service as one admin) gets here.
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        except asyncpg.InsufficientPrivilegeError as refused:
            user = await conn.fetchval("SELECT current_user")
            raise NotProvisioned(
                f'schema "{schema}" does not exist and {user} may not create it: run `signpost db provision` first'
            ) from refused
    finally:
        await conn.close()


def _migration_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sql")) if folder.exists() else []


async def migrate(
    pool: asyncpg.Pool, schema: str, service_migrations: Path
) -> list[str]:
    """Apply runtime then service migrations not yet applied; return the names applied."""
    lock_id = int.from_bytes(
        hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True
    )
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
        try:
            pending = await _pending(conn, schema, service_migrations)
            if not pending:
                return []
            switched = await _as_owner(conn, schema, pending)
            try:
                return await _apply(conn, pending)
            finally:
                if switched:
                    await conn.execute("RESET ROLE")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)


async def _pending(
    conn: Conn, schema: str, service_migrations: Path
) -> list[tuple[str, Path]]:
    every = [
        (f"{kind}/{path.name}", path)
        for kind, folder in (
            ("runtime", RUNTIME_MIGRATIONS),
            ("service", service_migrations),
        )
        for path in _migration_files(folder)
    ]
    if not await conn.fetchval(
        "SELECT to_regclass(format('%I.schema_migrations', $1::text)) IS NOT NULL",
        schema,
    ):
        return every
    try:
        done = {
            r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")
        }
    except asyncpg.InsufficientPrivilegeError as refused:
        raise NotProvisioned(
            f"{schema}: this role may not read schema_migrations: run `signpost db provision`"
        ) from refused
    return [(name, path) for name, path in every if name not in done]


async def _as_owner(conn: Conn, schema: str, pending: list[tuple[str, Path]]) -> bool:
    """Take the schema owner's role unless this is it already; True if switched (RESET ROLE after)."""
    row = await conn.fetchrow(
        "SELECT n.nspowner::regrole::text, current_user::regrole::text FROM pg_namespace n WHERE n.nspname = $1",
        schema,
    )
    assert row is not None, "connect() made sure the schema exists"
    owner, me = row
    if owner == me:
        return False
    try:
        await conn.execute(
            f"SET ROLE {owner}"
        )  # regrole's text is already quoted where it needs to be
    except asyncpg.InsufficientPrivilegeError as refused:
        names = ", ".join(name for name, _ in pending)
        raise NotProvisioned(
            f"{schema} has migrations pending ({names}) that only its owner {owner} may apply, not {me}:"
            " run `signpost db provision` with admin rights, then start again"
        ) from refused
    return True


async def _apply(conn: Conn, pending: list[tuple[str, Path]]) -> list[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for name, path in pending:
        async with conn.transaction():
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
    return [name for name, _ in pending]
