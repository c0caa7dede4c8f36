"""The audit log's hash chain on the running stack: it verifies, and tampering is found where it happened."""

import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import httpx
import psutil
import pytest
from aiokafka import AIOKafkaProducer

from services.audit.domain import chains
from services.audit.domain.chains import KEYLESS, chain_name, chain_of
from services.audit.store.chains import CHAIN_LOCK
from tests.e2e.test_intake_contract import REFERRAL
from tests.e2e.test_walking_skeleton import submit
from tests.support.running_stack import audit_trail, eventually
from toolbox.stack import REPO, Stack


def verify(stack: Stack) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGNPOST_DATABASE_URL": stack.database_url}
    return subprocess.run(
        [sys.executable, "-m", "toolbox.cli", "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


async def _sql(stack: Stack, *statements: str) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _rows(stack: Stack, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.mark.hazard("HAZ-020")
def test_the_chain_verifies_and_an_edited_row_is_named(signpost_stack: Stack) -> None:
    referral_id = submit(signpost_stack, REFERRAL).json()["referral_id"]
    trail = eventually(
        lambda: audit_trail(signpost_stack, referral_id) or None, what="audited events"
    )
    # Reading the trail is itself recorded, as an access with no patient: a row of the keyless chain.
    keyless = "SELECT seq, chain, chain_seq FROM audit.audit_log WHERE chain = $1 ORDER BY seq LIMIT 1"
    other = eventually(
        lambda: asyncio.run(_rows(signpost_stack, keyless, KEYLESS)),
        what="a keyless row",
    )[0]
    clean = verify(signpost_stack)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("chains intact:"), clean.stdout
    where = "SELECT seq, chain, chain_seq FROM audit.audit_log WHERE seq = $1"
    patient = asyncio.run(_rows(signpost_stack, where, trail[0]["seq"]))[0]
    assert patient["chain"] == chain_of(trail[0]["patient_key"]), (
        "the patient's row is in the patient's shard"
    )
    seqs = f"{patient['seq']}, {other['seq']}"
    edit = f"UPDATE audit.audit_log SET payload = payload || '{{\"forged\": true}}' WHERE seq IN ({seqs})"
    undo = (
        f"UPDATE audit.audit_log SET payload = payload - 'forged' WHERE seq IN ({seqs})"
    )
    asyncio.run(
        _sql(
            signpost_stack,
            "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_append_only",
            edit,
        )
    )
    try:
        tampered = verify(signpost_stack)
        assert tampered.returncode == 1
        for row in (patient, other):
            assert (
                f"{chain_name(row['chain'])}, row {row['chain_seq']} (edited)"
                in tampered.stdout
            ), tampered.stdout
    finally:
        asyncio.run(
            _sql(
                signpost_stack,
                undo,
                "ALTER TABLE audit.audit_log ENABLE TRIGGER audit_log_append_only",
            )
        )
    assert verify(signpost_stack).returncode == 0


@pytest.mark.hazard("HAZ-020")
def test_the_writer_role_can_only_read_and_insert(signpost_stack: Stack) -> None:
    for statement in (
        "UPDATE audit.audit_log SET event_type = 'x'",
        "DELETE FROM audit.audit_log",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(
                _sql(signpost_stack, "SET ROLE signpost_audit_writer", statement)
            )


# --- two audit instances ----------------------------------------------------------------------------------------------

CHAIN_HOLDERS = """
SELECT a.client_port, l.objid, l.objsubid, l.classid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
"""
"""Every advisory lock held now, by whose connection: the chains' heads are (CHAIN_LOCK, chain, subid 2); the
single chain's old global lock was the bigint CHAIN_LOCK (classid 0, objid CHAIN_LOCK, subid 1)."""


def _ports_of(pid: int) -> set[int]:
    """The local ports of a process's TCP connections: what PostgreSQL sees as each connection's client port."""
    return {
        c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr
    }


class LockWatch:
    """Samples who holds the chains' heads, as fast as PostgreSQL answers, until stopped."""

    def __init__(self, url: str, processes: dict[str, int]) -> None:
        self.url, self.processes = url, processes
        self.samples = 0
        self.busy = 0
        self.both = 0
        self.global_lock_seen = False
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), daemon=True
        )

    def _holders(self, rows: list[asyncpg.Record]) -> set[str]:
        ports = {name: _ports_of(pid) for name, pid in self.processes.items()}
        return {
            name for r in rows for name, own in ports.items() if r["client_port"] in own
        }

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while not self.stop.is_set():
                rows = await conn.fetch(CHAIN_HOLDERS)
                self.samples += 1
                if any(r["objsubid"] == 1 and r["objid"] == CHAIN_LOCK for r in rows):
                    self.global_lock_seen = True
                heads = [
                    r for r in rows if r["objsubid"] == 2 and r["classid"] == CHAIN_LOCK
                ]
                if heads:
                    self.busy += 1
                    self.both += self._holders(heads) == set(self.processes)
        finally:
            await conn.close()


async def _send(bootstrap: str, events: list[tuple[int, dict[str, object]]]) -> None:
    """Each event to the partition given with it, as the producers would (keyed by patient)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, event in events:
            key = str(event["patient_key"]).encode()
            await producer.send(
                "signpost.access",
                json.dumps(event).encode(),
                key=key,
                partition=partition,
            )
        await producer.flush()
    finally:
        await producer.stop()


def _access(patient_key: str) -> dict[str, object]:
    return {
        "type": "access.recorded",
        "event_id": str(uuid.uuid4()),
        "producer": "intake",
        "patient_key": patient_key,
        "occurred_at": datetime.now(UTC).isoformat(),
        "client_id": "gp-h81001",
        "function": "read referral",
    }


def _count(stack: Stack, ids: list[str]) -> tuple[int, int]:
    sql = "SELECT count(*), count(DISTINCT event_id) FROM audit.audit_log WHERE event_id = ANY($1::uuid[])"
    row = asyncio.run(_rows(stack, sql, ids))[0]
    return row[0], row[1]


def _ready(port: int) -> bool | None:
    try:
        return (
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            or None
        )
    except httpx.HTTPError:
        return None  # not listening yet


def _consumed(port: int) -> float:
    """How many signpost.access records this instance has consumed (its own metric)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    lines = [
        line
        for line in text.splitlines()
        if line.startswith('signpost_messages_consumed_total{topic="signpost.access"}')
    ]
    return float(lines[0].split()[-1]) if lines else 0.0


def _waiting_for(stack: Stack, chain: int) -> list[asyncpg.Record] | None:
    """Backends inside a write transaction, waiting for ``chain``'s head."""
    sql = (
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = $2"
        " AND objsubid = 2"
    )
    return asyncio.run(_rows(stack, sql, CHAIN_LOCK, chain)) or None


def _key_in(shard: int) -> str:
    return next(
        key
        for key in (uuid.uuid4().hex for _ in range(10_000))
        if chains.chain_of(key) == shard
    )


def _key_outside(shard: int) -> str:
    return next(
        key
        for key in (uuid.uuid4().hex for _ in range(100))
        if chains.chain_of(key) != shard
    )


@pytest.mark.hazard("HAZ-020")
def test_two_audit_instances_record_at_once_every_event_once_into_chains_that_all_verify(
    signpost_stack: Stack,
) -> None:
    """Two processes in audit's consumer group: while one waits inside its transaction for a chain's head, the other
    goes on committing rows of other chains; nothing is recorded twice or lost, and every chain verifies."""
    first_port, port = signpost_stack.ports["audit"], signpost_stack.ports["audit"] + 10
    env = {
        **signpost_stack.env(),
        "SIGNPOST_DATABASE_URL": signpost_stack.database_urls["audit"],
        "SIGNPOST_AUDIT_PORT": str(port),
    }
    log = signpost_stack.log_file("audit").with_name("audit-second.log")
    with log.open("ab") as out:
        command = [sys.executable, "-m", "services.audit"]
        second = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    watch = LockWatch(
        signpost_stack.database_url,
        {"first": signpost_stack.processes["audit"].pid, "second": second.pid},
    )
    sent: list[str] = []
    held_shard = 3
    try:
        eventually(
            functools.partial(_ready, port),
            timeout=90,
            what="the second audit instance ready",
        )
        watch.thread.start()
        # Both instances in the group, each with partitions of signpost.access: both consume what is sent there.
        deadline = time.monotonic() + 120
        while (
            not (_consumed(first_port) and _consumed(port))
            and time.monotonic() < deadline
        ):
            events = [
                (partition, _access(_key_outside(held_shard)))
                for partition in (0, 1, 2)
                for _ in range(4)
            ]
            asyncio.run(_send(signpost_stack.kafka_bootstrap, events))
            sent += [str(e["event_id"]) for _, e in events]
            eventually(
                functools.partial(_all_recorded, signpost_stack, list(sent)),
                timeout=60,
                what="the round recorded",
            )
        assert _consumed(first_port), "the first instance consumes signpost.access"
        assert _consumed(port), "the second instance consumes signpost.access"

        # Hold one shard's head, as a slow writer would; an event of that shard makes the instance that reads it wait.
        with _holding(signpost_stack.database_url, held_shard):
            blocked = _access(_key_in(held_shard))
            asyncio.run(_send(signpost_stack.kafka_bootstrap, [(0, blocked)]))
            sent.append(str(blocked["event_id"]))
            waiter = eventually(
                lambda: _waiting_for(signpost_stack, held_shard),
                timeout=60,
                what="an instance to wait for the head",
            )
            # Meanwhile events of other shards on every partition: the instance that is not waiting records its share.
            others = [
                (partition, _access(_key_outside(held_shard)))
                for partition in (0, 1, 2)
                for _ in range(3)
            ]
            asyncio.run(_send(signpost_stack.kafka_bootstrap, others))
            sent += [str(e["event_id"]) for _, e in others]
            ids = [str(e["event_id"]) for _, e in others]
            eventually(
                lambda: _count(signpost_stack, ids)[0] > 0 or None,
                timeout=60,
                what="rows committed by the other instance",
            )
            assert _waiting_for(signpost_stack, held_shard) == waiter, (
                "the first is still inside its transaction, waiting"
            )
            assert _count(signpost_stack, [str(blocked["event_id"])])[0] == 0
        eventually(
            functools.partial(_all_recorded, signpost_stack, list(sent)),
            timeout=90,
            what="everything recorded",
        )
        watch.stop.set()
        watch.thread.join(timeout=10)
    finally:
        second.terminate()
        second.wait(30)
    print(
        f"\n{len(sent)} events; lock samples {watch.samples}, with a head held {watch.busy},"
        f" with both instances holding heads at once {watch.both}"
    )
    assert _count(signpost_stack, sent) == (len(sent), len(sent)), (
        "every event recorded once"
    )
    assert not watch.global_lock_seen, "no instance took the single chain's global lock"
    verified = verify(signpost_stack)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("chains intact:"), verified.stdout


def _all_recorded(stack: Stack, ids: list[str]) -> bool | None:
    return _count(stack, ids)[0] == len(ids) or None


@contextlib.contextmanager
def _holding(url: str, chain: int) -> Iterator[None]:
    """A session of its own holding ``chain``'s head, as a slow writer would, until the block ends."""
    taken, done = threading.Event(), threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SELECT pg_advisory_lock($1, $2)", CHAIN_LOCK, chain)
            taken.set()
            await asyncio.get_running_loop().run_in_executor(None, done.wait)
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(hold()), daemon=True)
    thread.start()
    assert taken.wait(30), "the test's session took the head"
    try:
        yield
    finally:
        done.set()
        thread.join(30)
