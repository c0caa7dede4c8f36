"""The audit log's hash chain on the running stack: it verifies, and tampering is found where it happened."""

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from signpost.stack import Stack
from tests.e2e.test_intake_contract import REFERRAL
from tests.e2e.test_walking_skeleton import submit
from tests.support.running_stack import audit_trail, eventually


def verify(stack: Stack) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGNPOST_DATABASE_URL": stack.database_url}
    return subprocess.run(
        [sys.executable, "-m", "signpost.cli", "audit", "verify"], capture_output=True, text=True, env=env, timeout=120
    )


async def _sql(stack: Stack, *statements: str) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.hazard("HAZ-020")
def test_the_chain_verifies_and_an_edited_row_is_named(signpost_stack: Stack) -> None:
    referral_id = submit(signpost_stack, REFERRAL).json()["referral_id"]
    trail = eventually(lambda: audit_trail(signpost_stack, referral_id) or None, what="audited events")
    clean = verify(signpost_stack)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    seq = trail[0]["seq"]
    edit = f"UPDATE audit.audit_log SET payload = payload || '{{\"forged\": true}}' WHERE seq = {seq}"
    undo = f"UPDATE audit.audit_log SET payload = payload - 'forged' WHERE seq = {seq}"
    asyncio.run(_sql(signpost_stack, "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_append_only", edit))
    try:
        tampered = verify(signpost_stack)
        assert tampered.returncode == 1
        assert f"row {seq} (edited)" in tampered.stdout
    finally:
        asyncio.run(_sql(signpost_stack, undo, "ALTER TABLE audit.audit_log ENABLE TRIGGER audit_log_append_only"))
    assert verify(signpost_stack).returncode == 0


@pytest.mark.hazard("HAZ-020")
def test_the_writer_role_can_only_read_and_insert(signpost_stack: Stack) -> None:
    for statement in ("UPDATE audit.audit_log SET event_type = 'x'", "DELETE FROM audit.audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(_sql(signpost_stack, "SET ROLE signpost_audit_writer", statement))
