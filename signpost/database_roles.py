"""One PostgreSQL role per service, created once by whoever holds the server's admin rights.

A service that connects as a superuser can read every other service's tables
and rewrite the audit log however the triggers say; least privilege has to
be in the server's own grants. ``provision`` (``signpost db provision``, and
every local stack before it starts a service) creates:

- ``signpost_intake``, ``signpost_router``, ``signpost_notifier``: each logs
  in, owns its own schema only, and applies its own migrations at start-up;
- ``signpost_audit``: owns the audit schema and never logs in. Its migrations
  are applied here, as it (``SET ROLE``), because the audit service itself
  runs as
- ``signpost_audit_writer``: may read its log and append to it, never update,
  delete or truncate it, and is a member of no role it could ``SET ROLE`` to
  (grants in audit migrations 004 and 007);
- ``signpost_audit_pruner``: retention, for the operator's ``signpost audit
  prune`` only: it may delete what an anchor covers (the append-only trigger
  still checks) and write anchors. No service is given it.

None may create roles, databases or schemas. Roles belong to the whole
server, so every database on it (a test stack each) shares them. Passwords are
generated on first use and kept in a JSON file of mode 0600, like the Kafka
principals; they reach the server only as SCRAM verifiers, never in plain text
in its statement log. Provisioning is idempotent: run it again after an upgrade
(it applies audit's new migrations) or to take over a database whose schemas
and tables an older version created as the superuser.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from signpost import database

SCHEMA_OWNERS = {
    "intake": "signpost_intake",
    "router": "signpost_router",
    "notifier": "signpost_notifier",
    "audit": "signpost_audit",
}
AUDIT_WRITER = "signpost_audit_writer"
AUDIT_PRUNER = "signpost_audit_pruner"
# Who logs in for what: each service process, and the operator's prune command.
LOGINS = {
    "intake": "signpost_intake",
    "router": "signpost_router",
    "notifier": "signpost_notifier",
    "audit": AUDIT_WRITER,
    "audit-prune": AUDIT_PRUNER,
}
AUDIT_MIGRATIONS = (
    Path(__file__).resolve().parent.parent / "services" / "audit" / "migrations"
)
_NO_POWERS = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
# The ALTER ... OWNER statements that hand a schema's objects ($1) to its owner ($2). Tables and views first: ALTER
# TABLE takes the sequences they own (serial columns) with it, and a sequence a table owns refuses one of its own.
_IN_SCHEMA = " JOIN pg_namespace n ON n.oid = {0}namespace WHERE n.nspname = $1 AND {0}owner <> $2::text::regrole"
_HAND_OVER = (
    "SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'"
    " WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass, $2::text) FROM pg_class c"
    + _IN_SCHEMA.format("c.rel")
    + " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
    "SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, $2::text) FROM pg_class c"
    + _IN_SCHEMA.format("c.rel")
    + " AND c.relkind = 'S'",
    "SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $2::text) FROM pg_proc p"
    + _IN_SCHEMA.format("p.pro"),
)


class ProvisionRefused(Exception):
    """The connection given lacks the rights to create roles and schemas."""


def scram_verifier(
    password: str, salt: bytes | None = None, iterations: int = 4096
) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802/7677), so the password itself is never sent."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored).decode()}:{b64(server).decode()}"


def login_url(admin_url: str, role: str, password: str) -> str:
    """``admin_url`` with ``role`` and its password in place of the admin's credentials; host, database, options kept."""
    parts = urlsplit(admin_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(
            netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
        )
    )


def passwords(path: Path) -> dict[str, str]:
    """Each login role's password from ``path``, generating (and keeping, mode 0600) any not there yet."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {
        role: known.get(role) or secrets.token_urlsafe(32) for role in LOGINS.values()
    }
    if wanted != known:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(wanted, out, indent=2, sort_keys=True)
    path.chmod(0o600)
    return wanted


def urls(admin_url: str, passwords_file: Path) -> dict[str, str]:
    """The URL of each login ``passwords_file`` holds a password for; reads only (``provision`` made them)."""
    known: dict[str, str] = json.loads(passwords_file.read_text())
    return {
        login: login_url(admin_url, role, known[role])
        for login, role in LOGINS.items()
        if role in known
    }


async def provision(
    admin_url: str, passwords_file: Path, audit_migrations: Path = AUDIT_MIGRATIONS
) -> dict[str, str]:
    """Create or bring up to date the roles, schemas and audit's tables; return each login's URL."""
    known = passwords(passwords_file)
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ):
            user = await conn.fetchval("SELECT current_user")
            raise ProvisionRefused(
                f"provisioning needs a superuser connection; {user} is not one"
            )
        for role in LOGINS.values():
            await _ensure_role(conn, role, known[role])
        await _ensure_role(conn, SCHEMA_OWNERS["audit"], None)
        # Audit's migration 004 grants the writer role to whoever applies it: its owner, which needs the admin option.
        await conn.execute(
            f'GRANT "{AUDIT_WRITER}" TO "{SCHEMA_OWNERS["audit"]}" WITH ADMIN OPTION'
        )
        database_name = await conn.fetchval("SELECT current_database()")
        logins = ", ".join(f'"{r}"' for r in LOGINS.values())
        await conn.execute(f'GRANT CONNECT ON DATABASE "{database_name}" TO {logins}')
        await conn.execute(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC"
        )  # the default since PostgreSQL 15
        for schema, owner in SCHEMA_OWNERS.items():
            await _own_schema(conn, schema, owner)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        admin_url, min_size=1, max_size=1, server_settings={"search_path": '"audit"'}
    )
    try:
        await database.migrate(
            pool, "audit", audit_migrations
        )  # as the schema's owner (see database.migrate)
    finally:
        await pool.close()
    return {
        login: login_url(admin_url, role, known[role]) for login, role in LOGINS.items()
    }


async def _ensure_role(
    conn: asyncpg.Connection, role: str, password: str | None
) -> None:
    """Create ``role``, or reset its attributes and password to these: a role is never left with more than this.

    A password the server already holds is left alone. Another passwords file for the same server would change them
    under services that run with the first: keep one file per server.
    """
    row = await conn.fetchrow(
        "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role
    )
    if password is None:
        login = "NOLOGIN PASSWORD NULL"
    elif row is not None and _same_password(row["rolpassword"], password):
        login = "LOGIN"
    else:
        login = f"LOGIN PASSWORD '{scram_verifier(password)}'"
    await conn.execute(
        f'{"CREATE" if row is None else "ALTER"} ROLE "{role}" WITH {_NO_POWERS} {login}'
    )


def _same_password(stored: str | None, password: str) -> bool:
    """Whether the server's SCRAM verifier ``stored`` is of ``password`` (recomputed with its salt)."""
    try:
        iterations, salt = (stored or "").split("$")[1].split(":")
        return hmac.compare_digest(
            scram_verifier(password, base64.b64decode(salt), int(iterations)),
            stored or "",
        )
    except (IndexError, ValueError):  # none, or not SCRAM (md5): set it again
        return False


async def _own_schema(conn: asyncpg.Connection, schema: str, owner: str) -> None:
    """The schema and everything in it owned by ``owner``, and PUBLIC given nothing on it."""
    current = await conn.fetchval(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema
    )
    if current is None:
        await conn.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{owner}"')
        return
    if current != owner:
        await conn.execute(f'ALTER SCHEMA "{schema}" OWNER TO "{owner}"')
    await conn.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC')
    for query in _HAND_OVER:
        for statement in await conn.fetch(query, schema, owner):
            await conn.execute(statement[0])
