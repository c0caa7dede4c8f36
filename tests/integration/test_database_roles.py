"""Least privilege in PostgreSQL: each running service holds only the rights on its own schema.

The test asks the server which role each running service's connections log in
as (``pg_stat_activity``, by the ``signpost-<schema>`` application name), and
then takes that very role (``SET SESSION AUTHORIZATION`` from the admin
connection, so privileges and role membership are the service's own) and tries
what a bug or a compromised service might: read or write another service's
schema, rewrite or empty the audit log, become the audit schema's owner,
create roles or databases. Retention is the one way rows leave the audit log:
it runs as its own role, which no service is given.
"""

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.audit.store.chains import verify
from services.audit.store.retention import prune
from signpost import database
from signpost.database_roles import SCHEMA_OWNERS, provision, scram_verifier
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import (
    _database,
    audit_trail,
    bearer,
    eventually,
    running,
)
from toolbox.stack import SERVICES, Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
# A table of each schema's own besides the runtime's outbox and inbox.
OWN_TABLE = {
    "intake": "referrals",
    "router": "decisions",
    "notifier": "deliveries",
    "audit": "audit_log",
}


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    with running(infrastructure, "database_roles") as started:
        yield started


async def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _login_roles(stack: Stack) -> dict[str, str]:
    """The role each service's connections log in as, from the server's own view of them."""
    sql = (
        "SELECT DISTINCT application_name, usename FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = ANY($1::text[])"
    )
    names = [f"signpost-{s}" for s in SERVICES]
    seen: dict[str, set[str]] = {}
    for row in asyncio.run(_fetch(stack.database_url, sql, names)):
        seen.setdefault(row["application_name"].removeprefix("signpost-"), set()).add(
            row["usename"]
        )
    assert all(len(users) == 1 for users in seen.values()), (
        f"a service logs in as more than one role: {seen}"
    )
    return {service: users.pop() for service, users in seen.items()}


@pytest.fixture(scope="module")
def roles(stack: Stack) -> dict[str, str]:
    found: dict[str, str] = eventually(
        lambda: (r := _login_roles(stack)).keys() == set(SERVICES) and r,
        what="a connection from each of the four services",
    )
    return found


async def _as(stack: Stack, role: str, sql: str, in_transaction: bool = True) -> str:
    """Run ``sql`` as ``role`` would; return the class of the error it failed with, or "ok"."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(f'SET SESSION AUTHORIZATION "{role}"')
        try:
            if not in_transaction:  # e.g. CREATE DATABASE, which a transaction block refuses before any privilege check
                await conn.execute(sql)
                return "ok"
            async with conn.transaction():
                await conn.execute(sql)
                raise _RolledBack
        except _RolledBack:
            return "ok"
        except asyncpg.PostgresError as refused:
            return type(refused).__name__
    finally:
        await conn.close()


class _RolledBack(Exception):
    """Undoes whatever a statement that was let through did."""


def _try(stack: Stack, role: str, sql: str, in_transaction: bool = True) -> str:
    return asyncio.run(_as(stack, role, sql, in_transaction))


REFUSED = "InsufficientPrivilegeError"


def test_no_service_runs_as_a_superuser_or_shares_its_role(
    stack: Stack, roles: dict[str, str]
) -> None:
    assert len(set(roles.values())) == len(SERVICES), f"services share a role: {roles}"
    sql = (
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = ANY($1::text[])"
    )
    for row in asyncio.run(_fetch(stack.database_url, sql, list(roles.values()))):
        powers = [
            k
            for k in (
                "rolsuper",
                "rolcreaterole",
                "rolcreatedb",
                "rolreplication",
                "rolbypassrls",
            )
            if row[k]
        ]
        assert not powers, f"{row['rolname']} has {powers}"


@pytest.mark.hazard("HAZ-015")
@pytest.mark.parametrize("service", SERVICES)
def test_a_service_role_is_refused_on_every_other_schema(
    stack: Stack, roles: dict[str, str], service: str
) -> None:
    let_through = []
    for other in SERVICES:
        if other == service:
            continue
        for sql in (
            f"SELECT count(*) FROM {other}.{OWN_TABLE[other]}",
            f"SELECT count(*) FROM {other}.outbox",
            f"INSERT INTO {other}.outbox (event_id, topic, payload) VALUES ('{uuid.uuid4()}', 'x', '\\x00')",
            f"INSERT INTO {other}.processed_events (event_id, topic) VALUES ('{uuid.uuid4()}', 'x')",
            f"CREATE TABLE {other}.planted (id int)",
        ):
            if (outcome := _try(stack, roles[service], sql)) != REFUSED:
                let_through.append(f"{sql} -> {outcome}")
    assert not let_through, (
        f"{service} ({roles[service]}) was not refused: {let_through}"
    )
    # Its own schema still works for it.
    assert (
        _try(
            stack,
            roles[service],
            f"SELECT count(*) FROM {service}.{OWN_TABLE[service]}",
        )
        == "ok"
    )


@pytest.mark.hazard("HAZ-020")
def test_audit_runtime_role_may_read_and_append_its_log_but_never_rewrite_it(
    stack: Stack, roles: dict[str, str]
) -> None:
    writer = roles["audit"]
    # Refused by privilege, not merely by the append-only trigger (which the table's owner may disable).
    for sql in (
        "UPDATE audit.audit_log SET event_type = 'forged'",
        "DELETE FROM audit.audit_log",
        "TRUNCATE audit.audit_log",
        "DELETE FROM audit.audit_anchors",
        "UPDATE audit.audit_anchors SET seq = 0",
        "INSERT INTO audit.audit_anchors (seq, row_hash, rows_pruned, pruned_before) VALUES (1, 'x', 1, now())",
        "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_append_only",
    ):
        assert _try(stack, writer, sql) == REFUSED, sql
    assert _try(stack, writer, "SELECT count(*) FROM audit.audit_log") == "ok"
    columns = (
        "seq, event_id, event_type, topic, recorded_at, payload, prev_hash, row_hash"
    )
    insert = f"INSERT INTO audit.audit_log ({columns}) VALUES (-1, '{uuid.uuid4()}', 't', 't', now(), '{{}}', 'p', 'r')"
    assert _try(stack, writer, insert) == "ok"


@pytest.mark.hazard("HAZ-020")
def test_audit_runtime_role_cannot_leave_for_the_owner(
    stack: Stack, roles: dict[str, str]
) -> None:
    writer = roles["audit"]
    sql = (
        "SELECT nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = 'audit'"
    )
    owner_name = asyncio.run(_fetch(stack.database_url, sql))[0]["o"].strip('"')
    assert owner_name != writer, (
        "audit's runtime role owns its schema, so it may alter, disable or drop anything in it"
    )
    for role in (
        owner_name,
        "postgres",
        *(r for s, r in roles.items() if s != "audit"),
    ):
        assert _try(stack, writer, f'SET ROLE "{role}"') == REFUSED, (
            f"audit's {writer} could become {role}"
        )


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_role_can_create_roles_databases_or_schemas(
    stack: Stack, roles: dict[str, str], service: str
) -> None:
    for sql in ("CREATE ROLE planted LOGIN", "CREATE SCHEMA planted"):
        assert _try(stack, roles[service], sql) == REFUSED, f"{service}: {sql}"
    created = _try(
        stack, roles[service], "CREATE DATABASE planted", in_transaction=False
    )
    if created == "ok":
        asyncio.run(
            _fetch(
                stack.database_url.rpartition("/")[0] + "/postgres",
                "DROP DATABASE planted",
            )
        )
    assert created == REFUSED, f"{service}: CREATE DATABASE"


def _submitted(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer(),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def test_prune_runs_only_with_the_operators_prune_role(
    stack: Stack, roles: dict[str, str]
) -> None:
    referral_id = _submitted(stack)
    eventually(
        lambda: [
            e
            for e in audit_trail(stack, referral_id)
            if e["event_type"] == "assignment.delivered"
        ],
        timeout=60,
        what="the referral recorded as delivered",
    )
    later = datetime.now(UTC) + timedelta(days=30)
    service_url = stack.database_urls["audit"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(prune(service_url, timedelta(days=1), now=later))
    pruned = asyncio.run(
        prune(stack.database_urls["audit-prune"], timedelta(days=1), now=later)
    )
    assert pruned.deleted > 0, pruned.summary
    assert asyncio.run(verify(service_url)).ok, (
        "the chain verifies from the anchor, read with the service's own rights"
    )
    pruner = _login_role_of(stack.database_urls["audit-prune"])
    assert pruner not in roles.values(), (
        "the prune role is the operator's, never a running service's"
    )
    for sql in (
        "UPDATE audit.audit_log SET event_type = 'forged'",
        "TRUNCATE audit.audit_log",
        "SELECT count(*) FROM intake.referrals",
    ):
        assert _try(stack, pruner, sql) == REFUSED, sql


def _login_role_of(url: str) -> str:
    rows: list[Any] = asyncio.run(_fetch(url, "SELECT session_user AS u"))
    user: str = rows[0]["u"]
    return user


def test_the_server_checks_a_password_against_the_verifier_we_send(
    stack: Stack,
) -> None:
    """The server's own SCRAM verifier of a password, recomputed with its salt, is ours to the byte."""

    async def server_verifier() -> str:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute("SET password_encryption = 'scram-sha-256'")
            await conn.execute("CREATE ROLE signpost_scram_probe PASSWORD 'pencil'")
            stored: str = await conn.fetchval(
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'signpost_scram_probe'"
            )
            return stored
        finally:
            await conn.execute("DROP ROLE IF EXISTS signpost_scram_probe")
            await conn.close()

    theirs = asyncio.run(server_verifier())
    iterations, salt = theirs.split("$")[1].split(":")
    assert scram_verifier("pencil", base64.b64decode(salt), int(iterations)) == theirs


@pytest.mark.parametrize(
    "login", ["intake", "router", "notifier", "audit", "audit-prune"]
)
def test_each_login_needs_its_own_password(stack: Stack, login: str) -> None:
    url = stack.database_urls[login]
    assert _login_role_of(url) != "postgres"
    wrong = url.replace(
        url.rpartition("@")[0].rpartition(":")[2], "not-the-password", 1
    )
    with pytest.raises(asyncpg.InvalidPasswordError):
        _login_role_of(wrong)


def test_provisioning_takes_over_a_database_an_older_version_made_as_the_superuser(
    infrastructure: Infrastructure, stack: Stack
) -> None:
    """Before roles, every service migrated as the superuser: provisioning hands each schema and all in it to its owner."""
    admin = _database(infrastructure, "database_roles_takeover")
    folders = {
        s: Path(__file__).parents[2] / "services" / s / "migrations" for s in SERVICES
    }

    async def as_before_roles() -> None:
        for service, folder in folders.items():
            pool = await database.connect(admin, service, max_size=1)
            try:
                await database.migrate(pool, service, folder)
            finally:
                await pool.close()

    asyncio.run(as_before_roles())
    # The server's roles are shared by its databases: the running stack's passwords file, or its services lose theirs.
    assert stack.database_roles_file is not None
    logins = asyncio.run(provision(admin, stack.database_roles_file))
    owned = asyncio.run(
        _fetch(
            admin,
            "SELECT n.nspname AS schema, c.relname, c.relowner::regrole::text AS owner FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1::text[])"
            " AND c.relkind IN ('r', 'S', 'v')",
            list(SERVICES),
        )
    )
    wrong = [
        (r["schema"], r["relname"], r["owner"])
        for r in owned
        if r["owner"] != SCHEMA_OWNERS[r["schema"]]
    ]
    assert owned
    assert not wrong, wrong
    seven = "SELECT 1 FROM audit.schema_migrations WHERE name = 'service/007_runtime_and_prune_roles.sql'"
    assert asyncio.run(_fetch(admin, seven)), (
        "audit's new migration applied by provisioning, as its owner"
    )

    async def as_each_service() -> list[str]:
        applied = []
        for service in SERVICES:
            pool = await database.connect(logins[service], service, max_size=1)
            try:
                applied += await database.migrate(pool, service, folders[service])
                await pool.fetchval(f"SELECT count(*) FROM {OWN_TABLE[service]}")
            finally:
                await pool.close()
        return applied

    assert asyncio.run(as_each_service()) == [], (
        "nothing left to migrate, and each service reads its own tables"
    )
    # Run twice: the same passwords, nothing to change.
    assert asyncio.run(provision(admin, stack.database_roles_file)) == logins


def test_audit_with_a_migration_pending_refuses_to_start_and_names_it(
    stack: Stack, tmp_path: Path
) -> None:
    """Its writer may not apply a migration; it stops and says what provisioning must apply, changing nothing."""
    folder = Path(__file__).parents[2] / "services" / "audit" / "migrations"
    for path in folder.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "999_planted.sql").write_text("CREATE TABLE planted (id int);")

    async def migrate_as_writer() -> None:
        pool = await database.connect(stack.database_urls["audit"], "audit", max_size=1)
        try:
            await database.migrate(pool, "audit", tmp_path)
        finally:
            await pool.close()

    with pytest.raises(
        database.NotProvisioned,
        match=r"service/999_planted\.sql.*signpost db provision",
    ):
        asyncio.run(migrate_as_writer())
    assert not asyncio.run(
        _fetch(
            stack.database_url, "SELECT 1 FROM pg_tables WHERE tablename = 'planted'"
        )
    )
