"""The audit service's operator commands against a running stack.

``signpost audit prune`` cuts only rows older than the age it is given,
leaves an anchor, and the rest still verifies (and tampering in it is still
found); it refuses while the chain is broken. ``signpost audit tail`` shows
a referral's events as they happen, in order, and across a restart of the
audit service misses none and repeats none.
"""

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from benchmarks import audit_growth
from services.audit.domain.chain import FindingKind
from services.audit.domain.chains import chain_name
from services.audit.domain.retention import PruneRefused
from services.audit.store.chains import verify, verify_in
from services.audit.store.retention import prune
from tests.e2e.test_walking_skeleton import REFERRAL, submit
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import audit_trail, eventually
from toolbox.audit_tail import follow
from toolbox.stack import Stack
from toolbox.tokens import dev_token

FLOW = ["referral.submitted", "referral.routed", "assignment.delivered"]


def submit_and_wait(stack: Stack) -> str:
    """Submit a referral and return its id once audit has recorded its delivery."""
    referral_id: str = submit(stack, REFERRAL).json()["referral_id"]
    eventually(
        lambda: any(
            e["event_type"] == "assignment.delivered"
            for e in audit_trail(stack, referral_id)
        ),
        what="the referral's delivery in the audit log",
    )
    return referral_id


async def _query(
    url: str, sql: str, *args: Any, superuser_edit: bool = False
) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, server_settings={"search_path": "audit"})
    try:
        if superuser_edit:
            # A superuser going around the append-only trigger, for this session only: what an
            # attacker with database access could do, and what verification exists to catch.
            await conn.execute("SET session_replication_role = replica")
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def query(
    stack: Stack, sql: str, *args: Any, superuser_edit: bool = False
) -> list[asyncpg.Record]:
    return asyncio.run(
        _query(stack.database_url, sql, *args, superuser_edit=superuser_edit)
    )


def value(stack: Stack, sql: str, *args: Any) -> Any:
    return query(stack, sql, *args)[0][0]


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    # As on a developer's checkout after `make run`: a roles file of another server's passwords in the state
    # directory. The tools must take the stack's own roles, never that one (it failed every prune here).
    decoy = stack.state_dir / "checkout-state"
    decoy.mkdir(exist_ok=True)
    (decoy / "database-roles.json").write_text(
        json.dumps({"signpost_audit_pruner": "another-servers-password"})
    )
    return subprocess.run(
        [sys.executable, "-m", "toolbox.cli", "audit", *args],
        env={**stack.env(), "SIGNPOST_STATE_DIR": str(decoy)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def flow_seqs(stack: Stack, after: int) -> list[int]:
    rows = query(
        stack,
        "SELECT seq FROM audit_log WHERE seq > $1 AND event_type = ANY($2::text[]) ORDER BY seq",
        after,
        FLOW,
    )
    return [r["seq"] for r in rows]


def shown(lines: list[str]) -> list[str]:
    """The event lines a tail printed (not its notes about reconnecting)."""
    return [line for line in list(lines) if line.startswith("#")]


def seq_of(line: str) -> int:
    return int(line.split()[0].removeprefix("#"))


# --- tail -----------------------------------------------------------------------------------------------------------


class Link:
    """A TCP relay between a tail and the audit service that the test can cut and restore.

    While cut, the stream drops and every reconnection is refused, yet the
    audit service keeps recording: only resuming by Last-Event-ID can show
    what was recorded in between.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.up.clear()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.up.set()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the service is down: refuse as it would
                client.close()
                continue
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pipe, args=(source, sink), daemon=True
                ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_tail_resumes_after_a_dropped_link_and_an_audit_restart_missing_and_repeating_nothing(
    signpost_stack: Stack,
) -> None:
    start = value(signpost_stack, "SELECT coalesce(max(seq), 0) FROM audit_log")
    link = Link(signpost_stack.ports["audit"])
    lines: list[str] = []
    token = lambda: dev_token("operations")  # noqa: E731 - asked at every connection
    follower = threading.Thread(
        target=follow,
        args=(
            f"http://127.0.0.1:{link.port}",
            token,
            {"event_type": FLOW},
            lines.append,
        ),
        kwargs={"last_event_id": str(start), "max_events": 3 * len(FLOW)},
        daemon=True,
    )
    follower.start()
    referrals = [submit_and_wait(signpost_stack)]
    eventually(
        lambda: len(shown(lines)) == len(FLOW),
        what="the first referral's events in the tail",
    )

    # The link drops; a referral is recorded while the tail cannot reach the service.
    link.cut()
    referrals.append(submit_and_wait(signpost_stack))
    eventually(
        lambda: any(line.startswith("-- disconnected") for line in lines),
        what="the tail to notice the cut",
    )
    link.restore()
    eventually(
        lambda: len(shown(lines)) == 2 * len(FLOW),
        what="the events recorded while the link was down",
    )

    # The service itself stops and starts again.
    signpost_stack.stop_service("audit")
    signpost_stack.start_service("audit")
    signpost_stack.wait_ready("audit")
    referrals.append(submit_and_wait(signpost_stack))
    follower.join(timeout=60)

    assert not follower.is_alive(), f"the tail stopped short: {lines}"
    events = shown(lines)
    assert [seq_of(line) for line in events] == flow_seqs(signpost_stack, start), (
        "every event once, in order"
    )
    # Audit records each topic as it reads it, so within a referral seq order need not be causal order.
    seen = [(line.split()[4], line.split()[2]) for line in events]
    assert [referral for referral, _ in seen] == [r for r in referrals for _ in FLOW]
    assert sorted(seen) == sorted(
        (referral, kind) for referral in referrals for kind in FLOW
    )


def _sigint_at_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_tail_command_prints_each_event_as_it_happens_and_stops_on_ctrl_c(
    signpost_stack: Stack,
) -> None:
    start = value(signpost_stack, "SELECT coalesce(max(seq), 0) FROM audit_log")
    command = [
        sys.executable,
        "-m",
        "toolbox.cli",
        "audit",
        "tail",
        "--type",
        "assignment.delivered",
        "--since-id",
        str(start),
    ]
    # A terminal's Ctrl-C reaches a process whose SIGINT is at its default. A suite started in the background
    # (`make test &`, nohup in a script) hands its children SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: the tail would run on and this test hang. So the child starts as a terminal starts it.
    tail = subprocess.Popen(
        command,
        env=signpost_stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_at_default,
    )
    out: list[str] = []

    def read() -> None:
        assert tail.stdout is not None
        for line in tail.stdout:
            out.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    try:
        referral_id = submit_and_wait(signpost_stack)
        eventually(
            lambda: any(referral_id in line for line in out),
            what="the delivery in the tail's output",
        )
    finally:
        tail.send_signal(signal.SIGINT)
        try:
            _, err = tail.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            tail.kill()
            _, err = tail.communicate()
            raise AssertionError(
                f"the tail did not stop on SIGINT within 30 s; its stderr: {err[-2000:]}"
            ) from None
    assert tail.returncode == 0, err
    events = shown(out)
    assert [line.split()[2] for line in events] == ["assignment.delivered"], (
        "only the type asked for"
    )
    assert f"referral {referral_id}" in events[0]
    assert "agency demo-pharmacy" in events[0]
    assert REFERRAL["patient"]["nhs_number"] not in "\n".join(out) + err


# --- prune ----------------------------------------------------------------------------------------------------------


def _chains(stack: Stack) -> dict[int, list[asyncpg.Record]]:
    """Every row's place, chain by chain in position order."""
    rows = query(
        stack,
        "SELECT seq, chain, coalesce(chain_seq, seq) AS position, row_hash FROM audit_log ORDER BY chain, 3",
    )
    by_chain: dict[int, list[asyncpg.Record]] = {}
    for row in rows:
        by_chain.setdefault(row["chain"], []).append(row)
    return by_chain


def _unchanged(
    before: dict[int, list[asyncpg.Record]], after: dict[int, list[asyncpg.Record]]
) -> bool:
    """Every row still there as it was (audit may have recorded more since: the reads of the trail)."""
    return all(
        after.get(chain, [])[: len(rows)] == rows for chain, rows in before.items()
    )


def test_prune_cuts_only_rows_older_than_the_age_leaves_an_anchor_and_the_rest_still_verifies(
    signpost_stack: Stack,
) -> None:
    submit_and_wait(signpost_stack)
    last_old = value(signpost_stack, "SELECT max(seq) FROM audit_log")
    # Rows grow old only by waiting, so a superuser moves these back 30 days. recorded_at is when audit
    # stored a row, outside its hash: the chains still verify, and the age boundary falls at last_old.
    query(
        signpost_stack,
        "UPDATE audit_log SET recorded_at = recorded_at - interval '30 days' WHERE seq <= $1",
        last_old,
        superuser_edit=True,
    )
    submit_and_wait(signpost_stack)
    before = _chains(signpost_stack)
    # Per chain: its old rows go, but never its last row (the chain continues from it).
    expected = {
        chain: min(len([r for r in rows if r["seq"] <= last_old]), len(rows) - 1)
        for chain, rows in before.items()
    }
    expected = {chain: cut for chain, cut in expected.items() if cut}
    assert len(expected) >= 2, f"the old rows span several chains: {expected}"
    old_rows = sum(expected.values())
    cuts = ", ".join(
        f"{chain_name(chain)} up to row {before[chain][cut - 1]['position']}"
        for chain, cut in sorted(expected.items())
    )
    anchors = value(signpost_stack, "SELECT count(*) FROM audit_anchors")

    dry = cli(signpost_stack, "prune", "--older-than-days", "7", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(
        f"would prune {old_rows} rows ({cuts}; recorded before "
    ), dry.stdout
    assert _unchanged(before, _chains(signpost_stack)), "a dry run deletes nothing"
    assert value(signpost_stack, "SELECT count(*) FROM audit_anchors") == anchors

    done = cli(signpost_stack, "prune", "--older-than-days", "7")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"pruned {old_rows} rows ({cuts}; recorded before "
    ), done.stdout
    after = _chains(signpost_stack)
    for chain, rows in before.items():
        cut = expected.get(chain, 0)
        kept = after[chain][: len(rows) - cut]
        assert kept == rows[cut:], (
            f"{chain_name(chain)}: only its old prefix went, the rest is unchanged"
        )
        if cut:
            assert (
                f"{chain_name(chain)} row {rows[cut - 1]['position']}, hash {rows[cut - 1]['row_hash']}"
                in done.stdout
            )
    written = query(
        signpost_stack,
        "SELECT chain, seq, row_hash, rows_pruned, pruned_before FROM audit_anchors ORDER BY chain",
    )
    assert [
        (a["chain"], a["seq"], a["row_hash"], a["rows_pruned"]) for a in written
    ] == [
        (
            chain,
            before[chain][cut - 1]["position"],
            before[chain][cut - 1]["row_hash"],
            cut,
        )
        for chain, cut in sorted(expected.items())
    ], "one anchor per chain cut, at its last pruned row"
    assert all(
        abs(a["pruned_before"] - (datetime.now(UTC) - timedelta(days=7)))
        < timedelta(minutes=5)
        for a in written
    )

    verified = cli(signpost_stack, "verify")
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith("chains intact:"), verified.stdout
    assert (
        cli(signpost_stack, "prune", "--older-than-days", "7").stdout.strip()
        == "nothing old enough to prune"
    )
    submit_and_wait(signpost_stack)
    assert asyncio.run(verify(signpost_stack.database_url)).ok, (
        "the log grows on past the prune and still verifies"
    )


@pytest.mark.hazard("HAZ-020")
def test_after_a_prune_tampering_is_still_found_and_pruning_is_refused_until_it_is_undone(
    signpost_stack: Stack,
) -> None:
    submit_and_wait(signpost_stack)
    # A clock a month ahead makes every row old without touching them; one row of each chain always stays.
    pruned = asyncio.run(
        prune(
            signpost_stack.database_url,
            timedelta(days=1),
            now=datetime.now(UTC) + timedelta(days=30),
        )
    )
    assert pruned.plans
    assert pruned.deleted > 0
    first = "SELECT min(coalesce(chain_seq, seq)) FROM audit_log WHERE chain = $1"
    for plan in pruned.plans:
        assert value(signpost_stack, first, plan.anchor.chain) == plan.up_to_seq + 1, (
            "each chain keeps its last row"
        )
    last = value(signpost_stack, "SELECT max(seq) FROM audit_log")
    submit_and_wait(signpost_stack)
    # The first row recorded after the prune: in its chain, the row after the one the anchor left.
    target = query(
        signpost_stack,
        "SELECT seq, chain, chain_seq FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1",
        last,
    )[0]
    edit = (
        "UPDATE audit_log SET payload = payload || '{\"edited\": true}' WHERE seq = $1"
    )
    undo = "UPDATE audit_log SET payload = payload - 'edited' WHERE seq = $1"
    anchors = value(signpost_stack, "SELECT count(*) FROM audit_anchors")
    rows = value(signpost_stack, "SELECT count(*) FROM audit_log")
    query(signpost_stack, edit, target["seq"], superuser_edit=True)
    try:
        found = asyncio.run(verify(signpost_stack.database_url))
        assert [(f.chain, f.kind, f.seq) for f in found.findings] == [
            (target["chain"], FindingKind.EDITED, target["chain_seq"])
        ]
        assert asyncio.run(
            _verified_whole_and_in_pieces(signpost_stack.database_url)
        ), "reading in chunks changes nothing"
        named = cli(signpost_stack, "verify")
        assert named.returncode == 1
        assert (
            f"{chain_name(target['chain'])}, row {target['chain_seq']} (edited)"
            in named.stdout
        ), named.stdout

        with pytest.raises(PruneRefused, match="does not verify"):
            asyncio.run(
                prune(
                    signpost_stack.database_url,
                    timedelta(days=1),
                    now=datetime.now(UTC) + timedelta(days=60),
                )
            )
        refused = cli(signpost_stack, "prune", "--older-than-days", "1")
        assert refused.returncode == 1
        assert refused.stderr.startswith("refused: the audit log does not verify"), (
            refused.stderr
        )
        assert value(signpost_stack, "SELECT count(*) FROM audit_log") >= rows, (
            "nothing was pruned"
        )
        assert value(signpost_stack, "SELECT count(*) FROM audit_anchors") == anchors
    finally:
        query(signpost_stack, undo, target["seq"], superuser_edit=True)
    assert asyncio.run(verify(signpost_stack.database_url)).ok


async def _verified_whole_and_in_pieces(url: str) -> bool:
    conn = await asyncpg.connect(url, server_settings={"search_path": "audit"})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await verify_in(conn) == await verify_in(conn, chunk_rows=2)
    finally:
        await conn.close()


# --- growth benchmark -----------------------------------------------------------------------------------------------


def test_the_growth_benchmark_records_through_the_consumer_path_and_leaves_no_scratch_database(
    infrastructure: Infrastructure,
) -> None:
    scratch = "e2e_bench_audit_growth"
    results = asyncio.run(
        audit_growth.run(
            infrastructure.database_url, events=130, batch_size=50, scratch=scratch
        )
    )
    assert results["referrals"] == 130 // len(audit_growth.FLOW)
    assert results["rows"] == results["referrals"] * len(audit_growth.FLOW), (
        "every event recorded once, across batches"
    )
    assert results["ok"], "the benchmark's log verifies"
    assert 300 < results["bytes_per_row"] < 20_000
    assert results["rows_per_s"] > 0
    assert results["verify_seconds"] >= 0
    left = asyncio.run(
        _query(
            infrastructure.database_url,
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            scratch,
        )
    )
    assert left[0][0] == 0
