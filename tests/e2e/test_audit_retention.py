"""Retention and the terminal stream against a running stack: prune keeps the chain verifiable; tail misses nothing.

Pruning is driven with a clock set ahead (``now=``) rather than by backdating
rows: the rows stay exactly as the recorder wrote them.
"""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.audit.domain.retention import PruneRefused
from services.audit.pruning import prune
from services.audit.tail import follow
from services.audit.verification import verify
from signpost.stack import Stack
from signpost.tokens import dev_token
from tests.support.running_stack import audit_trail, bearer, eventually

REFERRAL = json.loads((Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json").read_text())
LATER = datetime.now(UTC) + timedelta(days=30)


def submit_and_wait(stack: Stack) -> str:
    response = httpx.post(f"{stack.url('intake')}/v1/referrals", json=REFERRAL, headers=bearer(), timeout=10)
    referral_id: str = response.json()["referral_id"]
    eventually(lambda: any(e["event_type"] == "assignment.delivered" for e in audit_trail(stack, referral_id)),
               what="the referral's delivery in the audit log")  # fmt: skip
    return referral_id


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url, server_settings={"search_path": "audit"})
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def count(stack: Stack, sql: str) -> int:
    return asyncio.run(_count(stack.database_url, sql))


def test_tail_shows_a_referral_as_it_flows_and_resumes_without_gaps_or_repeats(signpost_stack: Stack) -> None:
    start = str(count(signpost_stack, "SELECT coalesce(max(seq), 0) FROM audit_log"))
    referral_id = submit_and_wait(signpost_stack)
    token, url = dev_token("operations"), signpost_stack.url("audit")
    flow = {"event_type": ["referral.submitted", "referral.routed", "assignment.delivered"]}
    first: list[str] = []
    # Two sittings: the second resumes from the id the first stopped at, as after a dropped connection.
    stopped_at = follow(url, token, flow, first.append, last_event_id=start, max_events=2)
    second: list[str] = []
    follow(url, token, flow, second.append, last_event_id=stopped_at, max_events=1)
    shown = [int(line.split()[0].lstrip("#")) for line in first + second]
    recorded = asyncio.run(_seqs(signpost_stack.database_url, int(start), flow["event_type"]))
    assert shown == recorded[:3], "the same events, in order: nothing missed, nothing shown twice"
    assert all(referral_id in line for line in first + second)
    assert {line.split()[2] for line in first + second} == set(flow["event_type"])


async def _seqs(url: str, after: int, types: list[str]) -> list[int]:
    conn = await asyncpg.connect(url, server_settings={"search_path": "audit"})
    try:
        sql = "SELECT seq FROM audit_log WHERE seq > $1 AND event_type = ANY($2::text[]) ORDER BY seq"
        rows = await conn.fetch(sql, after, types)
        return [r["seq"] for r in rows]
    finally:
        await conn.close()


def test_a_dry_run_says_what_would_go_and_deletes_nothing(signpost_stack: Stack) -> None:
    submit_and_wait(signpost_stack)
    before = count(signpost_stack, "SELECT count(*) FROM audit_log")
    result = asyncio.run(prune(signpost_stack.database_url, timedelta(days=1), dry_run=True, now=LATER))
    assert result.plan is not None
    assert result.deleted == 0
    assert count(signpost_stack, "SELECT count(*) FROM audit_log") >= before
    cli = subprocess.run([sys.executable, "-m", "signpost.cli", "audit", "prune", "--older-than-days", "3650", "--dry-run"],
                         env={**os.environ, "SIGNPOST_DATABASE_URL": signpost_stack.database_url}, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "nothing old enough to prune", "today's rows are not ten years old"


def test_pruning_leaves_an_anchor_and_the_rest_still_verifies_and_grows(signpost_stack: Stack) -> None:
    submit_and_wait(signpost_stack)
    result = asyncio.run(prune(signpost_stack.database_url, timedelta(days=1), now=LATER))
    assert result.plan is not None
    remaining = count(signpost_stack, "SELECT count(*) FROM audit_log")
    assert result.deleted > 0
    assert count(signpost_stack, "SELECT min(seq) FROM audit_log") == result.plan.up_to_seq + 1
    assert count(signpost_stack, "SELECT max(seq) FROM audit_anchors") == result.plan.up_to_seq
    assert asyncio.run(verify(signpost_stack.database_url)).ok, "verification resumes from the anchor"
    submit_and_wait(signpost_stack)
    assert count(signpost_stack, "SELECT count(*) FROM audit_log") > remaining
    after = asyncio.run(verify(signpost_stack.database_url))
    assert after.ok, after.summary


def test_pruning_is_refused_while_the_chain_is_broken_and_tampering_after_a_prune_is_still_found(signpost_stack: Stack) -> None:
    submit_and_wait(signpost_stack)

    async def tamper() -> int:
        conn = await asyncpg.connect(signpost_stack.database_url, server_settings={"search_path": "audit"})
        try:
            seq = int(await conn.fetchval("SELECT max(seq) - 1 FROM audit_log"))
            # A superuser going around the append-only trigger: what verification exists to catch.
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            await conn.execute("UPDATE audit_log SET payload = payload || '{\"edited\": true}' WHERE seq = $1", seq)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
            return seq
        finally:
            await conn.close()

    edited = asyncio.run(tamper())
    found = asyncio.run(verify(signpost_stack.database_url))
    assert not found.ok
    assert edited in [f.seq for f in found.findings]
    with pytest.raises(PruneRefused, match="does not verify"):
        asyncio.run(prune(signpost_stack.database_url, timedelta(days=1), now=LATER))
