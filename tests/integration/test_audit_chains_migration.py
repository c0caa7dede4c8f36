"""Audit migration 009 on a log written by the single-chain recorder: the old chain verifies as it was, closed,
new rows go to chains per shard that start from its head, and tampering on either side is named by chain and row.

The legacy log is written the way the recorder before 009 wrote it (one chain, ``row_hash`` v1 over the log's
seq, rows copied in under the writer role), into a real PostgreSQL schema built by migrations 001-008 only.
"""

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.audit.domain import chain, chains
from services.audit.domain.chain import FindingKind
from services.audit.domain.records import SeenEvent
from services.audit.handlers import recorder
from services.audit.store.chains import verify_in
from signpost import database
from signpost.consumer import Incoming
from tests.support.infrastructure import Infrastructure
from tests.support.scratch_database import scratch_database

MIGRATIONS = Path(__file__).parents[2] / "services" / "audit" / "migrations"
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
LEGACY_ROWS, PRUNED_BEFORE_009 = 30, 10


def _legacy_rows() -> list[chain.ChainRow]:
    rows: list[chain.ChainRow] = []
    for n in range(1, LEGACY_ROWS + 1):
        payload = json.dumps(
            {"type": "referral.submitted", "n": n, "patient_key": f"pk-{n % 4}"},
            sort_keys=True,
        )
        at = START + timedelta(minutes=n)
        rows.append(next_legacy(rows[-1] if rows else None, n, at, payload))
    return rows


def next_legacy(
    previous: chain.ChainRow | None, n: int, at: datetime, payload: str
) -> chain.ChainRow:
    return chain.next_row(
        previous,
        uuid.uuid5(uuid.NAMESPACE_URL, f"legacy-{n}"),
        "referral.submitted",
        "referral.submitted",
        at,
        payload,
    )


async def _write_legacy(pool: asyncpg.Pool, rows: list[chain.ChainRow]) -> None:
    """What the pre-009 recorder wrote, then a pre-009 prune of the first rows with its anchor."""
    columns = [
        "seq",
        "event_id",
        "event_type",
        "topic",
        "patient_key",
        "occurred_at",
        "recorded_at",
        "payload",
        "prev_hash",
        "row_hash",
    ]
    records = [
        (
            r.seq,
            uuid.UUID(str(r.event_id)),
            r.event_type,
            r.topic,
            json.loads(r.payload)["patient_key"],
            datetime.fromisoformat(r.occurred_at),
            START,
            r.payload,
            r.prev_hash,
            r.row_hash,
        )
        for r in rows
    ]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE signpost_audit_writer")
        await conn.copy_records_to_table(
            "audit_log", schema_name="audit", records=records, columns=columns
        )
    cut = rows[PRUNED_BEFORE_009 - 1]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO audit_anchors (seq, row_hash, rows_pruned, pruned_before) VALUES ($1, $2, $3, $4)",
            cut.seq,
            cut.row_hash,
            PRUNED_BEFORE_009,
            START,
        )
        await conn.execute("SET LOCAL signpost.audit_retention = 'on'")
        await conn.execute("DELETE FROM audit_log WHERE seq <= $1", cut.seq)


def _incoming(n: int, patient_key: str | None) -> Incoming[SeenEvent]:
    event = {
        "type": "referral.routed",
        "event_id": str(uuid.uuid4()),
        "patient_key": patient_key,
        "occurred_at": START.isoformat(),
        "n": n,
    }
    return Incoming(
        recorder.parse(json.dumps(event).encode()), "referral.routed", 0, n, {}
    )


async def _verified(pool: asyncpg.Pool) -> chains.LogVerification:
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await verify_in(conn, chunk_rows=7)


async def _edit(pool: asyncpg.Pool, sql: str, *args: object) -> None:
    async with pool.acquire() as conn, conn.transaction():
        # Around the append-only trigger, as an attacker with the database's superuser would go.
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql, *args)


@pytest.fixture
def pre_009_database(infrastructure: Infrastructure) -> Iterator[str]:
    with scratch_database(infrastructure.database_url, "audit_migration") as url:
        yield url


@pytest.mark.hazard("HAZ-020")
def test_a_single_chain_log_migrates_verifies_grows_in_shards_and_tampering_is_named(
    pre_009_database: str, tmp_path: Path
) -> None:
    asyncio.run(_migrate_and_check(pre_009_database, tmp_path))


async def _migrate_and_check(url: str, tmp_path: Path) -> None:
    before = tmp_path / "migrations-before-009"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < "009":
            shutil.copy(path, before / path.name)
    pool = await database.connect(url, "audit", max_size=2)
    try:
        await database.migrate(pool, "audit", before)
        legacy = _legacy_rows()
        await _write_legacy(pool, legacy)

        # 009 and whatever came after it (010 indexes the patient trail's links).
        applied = await database.migrate(pool, "audit", MIGRATIONS)
        assert applied[0] == "service/009_chains_per_shard.sql", applied
        assert all(name > "service/009" for name in applied), applied
        migrated = await _verified(pool)
        assert migrated.ok, migrated.summary
        assert migrated.of(chain.LEGACY).rows_checked == LEGACY_ROWS - PRUNED_BEFORE_009  # type: ignore[union-attr]
        seal = await pool.fetchrow("SELECT seq, row_hash FROM audit_legacy_seal")
        assert seal is not None
        assert (seal["seq"], seal["row_hash"]) == (LEGACY_ROWS, legacy[-1].row_hash), (
            "closed at its last row"
        )

        # The new recorder appends in shards, from the seal, with the log's seq carried on.
        batch = [_incoming(n, f"patient-{n % 5}" if n % 3 else None) for n in range(12)]
        async with pool.acquire() as conn, conn.transaction():
            await recorder.record(conn, batch)
        grown = await _verified(pool)
        assert grown.ok, grown.summary
        new = await pool.fetch(
            "SELECT seq, chain, chain_seq, prev_hash FROM audit_log WHERE chain >= 0 ORDER BY seq"
        )
        assert [r["seq"] for r in new] == list(range(LEGACY_ROWS + 1, LEGACY_ROWS + 13))
        assert {r["chain"] for r in new} == {
            chains.chain_of(f"patient-{n}") for n in range(5)
        } | {chains.KEYLESS}
        firsts = [r for r in new if r["chain_seq"] == 1]
        assert {r["prev_hash"] for r in firsts} == {legacy[-1].row_hash}, (
            "every new chain starts from the legacy head"
        )

        # An old row edited: named in the legacy chain at its old seq.
        await _edit(
            pool,
            "UPDATE audit_log SET payload = payload || '{\"edited\": true}' WHERE seq = 15",
        )
        found = await _verified(pool)
        assert [(f.chain, f.seq, f.kind) for f in found.findings] == [
            (chain.LEGACY, 15, FindingKind.EDITED)
        ], found.summary
        await _edit(
            pool, "UPDATE audit_log SET payload = payload - 'edited' WHERE seq = 15"
        )

        # A new row edited: named in its shard at its place there.
        target = new[5]
        await _edit(
            pool,
            "UPDATE audit_log SET event_type = 'referral.cancelled' WHERE seq = $1",
            target["seq"],
        )
        found = await _verified(pool)
        where = [(f.chain, f.seq, f.kind) for f in found.findings]
        assert where == [(target["chain"], target["chain_seq"], FindingKind.EDITED)], (
            found.summary
        )
        await _edit(
            pool,
            "UPDATE audit_log SET event_type = 'referral.routed' WHERE seq = $1",
            target["seq"],
        )

        # The legacy chain's last row deleted: the seal shows it.
        await _edit(pool, "DELETE FROM audit_log WHERE seq = $1", LEGACY_ROWS)
        found = await _verified(pool)
        assert [(f.chain, f.seq, f.kind) for f in found.findings] == [
            (chain.LEGACY, LEGACY_ROWS, FindingKind.DELETED)
        ], found.summary
    finally:
        await pool.close()
