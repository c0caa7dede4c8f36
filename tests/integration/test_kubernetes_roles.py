"""The chart's PostgreSQL roles on a real server: every service migrates as its own role, and no further.

CloudNativePG is not here, so this replays what it does with the rendered
``Cluster`` and ``Database``: the bootstrap SQL as the superuser, each managed
role created and granted its ``inRoles``, each schema created for its owner.
Then each service's real migrations run as that service's role. The server is
a private one (roles are cluster-wide, and other tests create roles too).
"""

import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.kafka.acls import SERVICES
from deploy.kubernetes import render
from deploy.postgres import local
from signpost import database
from tests.support.helm_build import WAITING_TIMEOUT

# It renders the chart, so it waits for `make test`'s helm build (tests/support/helm_build.py).
pytestmark = WAITING_TIMEOUT

Manifest = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def chart(helm_built: None) -> list[Manifest]:
    return render.manifests()


PASSWORD = "test-only-role-password"


@pytest.fixture
async def server(chart: list[Manifest]) -> AsyncIterator[str]:
    """A fresh server set up as CloudNativePG would from the chart; yields the host:port/database part of URLs."""
    (cluster,) = [d for d in chart if d["kind"] == "Cluster"]
    (db,) = [d for d in chart if d["kind"] == "Database"]
    state = Path(tempfile.mkdtemp(prefix="signpost-k8s-roles-"))
    os.chmod(state, 0o755)  # the server runs as its own system user
    node = local.PostgresNode(
        state,
        port=_free_port(),
        database=cluster["spec"]["bootstrap"]["initdb"]["database"],
    )
    url = local.start(node)
    try:
        admin = await asyncpg.connect(url)
        try:
            for statement in cluster["spec"]["bootstrap"]["initdb"][
                "postInitApplicationSQL"
            ]:
                await admin.execute(statement)
            for role in cluster["spec"]["managed"]["roles"]:
                exists = await admin.fetchval(
                    "SELECT 1 FROM pg_roles WHERE rolname = $1", role["name"]
                )
                verb = "ALTER" if exists else "CREATE"
                # CloudNativePG sets each login's password from its Secret; the local server checks passwords too.
                login = f"LOGIN PASSWORD '{PASSWORD}'" if role["login"] else "NOLOGIN"
                await admin.execute(f'{verb} ROLE "{role["name"]}" {login}')
            for role in cluster["spec"]["managed"]["roles"]:
                for parent in role.get("inRoles", []):
                    await admin.execute(f'GRANT "{parent}" TO "{role["name"]}"')
            for schema in db["spec"]["schemas"]:
                await admin.execute(
                    f'CREATE SCHEMA "{schema["name"]}" AUTHORIZATION "{schema["owner"]}"'
                )
        finally:
            await admin.close()
        yield f"127.0.0.1:{node.port}/{node.database}"
    finally:
        local.stop(node)
        shutil.rmtree(state, ignore_errors=True)


async def test_each_service_migrates_as_its_own_role_and_reaches_no_further(
    server: str,
) -> None:
    for service in SERVICES:
        pool = await database.connect(
            f"postgresql://signpost_{service}:{PASSWORD}@{server}", schema=service
        )
        try:
            applied = await database.migrate(
                pool, service, render.REPO / "services" / service / "migrations"
            )
            assert applied, service
        finally:
            await pool.close()

    router = await asyncpg.connect(f"postgresql://signpost_router:{PASSWORD}@{server}")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.fetch("SELECT * FROM intake.outbox LIMIT 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.execute("SET ROLE signpost_audit_writer")
    finally:
        await router.close()

    audit = await asyncpg.connect(
        f"postgresql://signpost_audit:{PASSWORD}@{server}",
        server_settings={"search_path": "audit"},
    )
    try:
        async with audit.transaction():
            await audit.execute("SET LOCAL ROLE signpost_audit_writer")
            assert (
                await audit.fetchval(
                    "SELECT has_table_privilege('audit_log', 'INSERT')"
                )
                is True
            )
            assert (
                await audit.fetchval(
                    "SELECT has_table_privilege('audit_log', 'UPDATE')"
                )
                is False
            )
    finally:
        await audit.close()
