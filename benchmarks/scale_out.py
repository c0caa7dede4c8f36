"""Two instances of every service under load, killed, added back and rebalanced: then proof, per referral.

One broker and one database; each of the four services runs as two processes
(``intake-1``, ``intake-2``, ...) in the same consumer groups. First the same
burst of referrals is timed with one instance of each and with two (a figure
printed, never asserted: two cores are shared by everything). Then a steady
load of mixed referrals runs, and agencies report outcomes on their own
topics, while in turn the instance of each service that holds the outbox
relay's leader lock is SIGKILLed (the survivor must take the lock: shown by
PostgreSQL's lock table) and started again, and a third instance of a service
joins its consumer groups and leaves again (a rebalance each way, seen as the
groups' member counts). SLA timers fall due seconds after delivery
(``SIGNPOST_SLA_DEMO_SECONDS``), so they fire during the run.

When everything has settled, the checks (``benchmarks.scale_checks``):

- per referral: stored once, one decision, one delivery per assignment, each audited once
  (``benchmarks.chaos_counts``); per outcome report: recorded once, or refused once (dead letter);
- every event on every topic has exactly one audit row;
- per patient key on every topic, ``occurred_at`` never goes back in offset order;
- every SLA timer fired exactly once or was cleared, each firing published and audited once;
- the relay's lock moved from each killed instance to a survivor;
- every audit chain verifies (``services.audit.store.chains.verify``, what ``signpost audit verify`` runs).

    python -m benchmarks.scale_out --seconds 300 --rate 10
"""

import argparse
import asyncio
import hashlib
import json
import random
import re
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks import mix, scale_checks
from benchmarks.chaos import RESULTS, Budget, finish, problems, settle
from benchmarks.chaos_counts import Counts, Once, count, pending
from benchmarks.chaos_faults import Chaos, Progress, load, timed
from schemas.events import AgencyOutcome
from schemas.ids import derived_event_id
from schemas.topics import EVERY_SIGNPOST_TOPIC
from schemas.vocabulary import CompletionOutcome, OutcomeCode
from services.audit.domain import provenance
from toolbox.stack import SERVICES

AUDITED_TOPICS = re.compile(EVERY_SIGNPOST_TOPIC)
"""What audit follows (services/audit/app.py): every Signpost topic."""
SLA_SECONDS = 3.0
"""Each assignment's timers fall due this many seconds apart from its delivery."""
GROUPS = {
    "intake": "signpost-intake",
    "router": "signpost-router",
    "notifier": "signpost-notifier",
    "audit": "signpost-audit",
}
"""A consumer group of each service whose membership shows a rebalance."""


def nhs_number(rng: random.Random) -> str:
    """A valid NHS number (modulus 11), made up."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = (
            11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        )
        if check != 10:
            return "".join(map(str, digits)) + str(0 if check == 11 else check)


def patient_mix(
    rng: random.Random, patients: list[str]
) -> Callable[[int], mix.Submission]:
    """The bench's mix of referrals, spread over ``patients`` (so keys land on every partition), i-th to i % n."""

    def make(i: int) -> mix.Submission:
        submission = mix.submission(rng)
        submission.body["patient"]["nhs_number"] = patients[i % len(patients)]
        return submission

    return make


def patient_of(submission: mix.Submission) -> str:
    """Whose referral it is: one patient's go one after another (``chaos_faults.load``)."""
    nhs_number: str = submission.body["patient"]["nhs_number"]
    return nhs_number


def outcome_plan(assignment_id: str) -> list[OutcomeCode]:
    """What the agency reports on an assignment: nothing (its timers fire), accepted, or through to completed."""
    return [
        [],
        [OutcomeCode.ACCEPTED],
        [OutcomeCode.ACCEPTED, OutcomeCode.PATIENT_CONTACTED, OutcomeCode.COMPLETED],
    ][uuid.UUID(assignment_id).int % 3]


@dataclass
class Run:
    """What the run did, for the checks."""

    progress: Progress
    reported: dict[str, str] = field(default_factory=dict)
    """Outcome report id -> assignment id, for every report the agencies sent."""
    moves: list[str] = field(default_factory=list)
    """How the relay's leader lock moved at each kill."""
    rebalances: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    fault_problems: list[str] = field(default_factory=list)
    throughput: dict[int, dict[str, float]] = field(default_factory=dict)
    """Per instance count: the burst's accepted/s and settled/s."""
    loaded_s: float = 0.0


@dataclass
class Checks:
    counts: Counts
    outcomes: Once
    audited: Once
    """Per event id on every topic, one audit row."""
    order: scale_checks.Order
    """Per topic, patient key and assignment (else referral)."""
    interleaved: scale_checks.Order
    """Per topic and patient key alone: two referrals of one patient may interleave (a figure, not a failure)."""
    timers: scale_checks.Timers
    topics: int = 0
    records: int = 0


# The relay's leader lock, as signpost/outbox.py derives it (OutboxRelay._run); a lock found for no instance fails the run.
def _relay_lock(schema: str) -> tuple[int, int]:
    key = int.from_bytes(hashlib.sha256(f"relay:{schema}".encode()).digest()[:8], "big")
    return (
        key >> 32,
        key & 0xFFFFFFFF,
    )  # pg_locks shows a bigint advisory lock as (classid, objid)


async def relay_leader(
    database_url: str, ports_of: dict[str, set[int]], schema: str
) -> str | None:
    """The instance whose database connection holds ``schema``'s relay lock, matched by its client port."""
    classid, objid = _relay_lock(schema)
    conn = await asyncpg.connect(database_url)
    try:
        holders = await conn.fetch(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1",
            classid,
            objid,
        )
    finally:
        await conn.close()
    ports = {r["client_port"] for r in holders}
    found = [name for name, own in ports_of.items() if own & ports]
    return found[0] if found else None


def local_ports(pids: dict[str, int]) -> dict[str, set[int]]:
    """Each process's local TCP ports (its database connections among them)."""
    out: dict[str, set[int]] = {}
    for name, pid in pids.items():
        try:
            out[name] = {
                c.laddr.port
                for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.laddr
            }
        except psutil.Error:
            out[name] = set()
    return out


async def group_members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
        # Raw DescribeGroups responses: each group is (error, id, state, protocol type, protocol, members, ...).
        return sum(len(group[5]) for response in described for group in response.groups)
    finally:
        await admin.close()


def poll(
    what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.25
) -> Any:
    """``check()`` until it answers something true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(every_s)


class ScaleOut:
    """A chaos stack of N instances per service, with the faults a scale-out must survive."""

    def __init__(
        self, chaos: Chaos, say: Callable[[str], None], takeover_s: float = 45.0
    ) -> None:
        self.chaos = chaos
        self.say = say
        self.takeover_s = takeover_s

    @property
    def stack(self) -> Any:
        assert self.chaos.stack is not None
        return self.chaos.stack

    def leader(self, service: str) -> str | None:
        pids = {
            name: self.stack.processes[name].pid
            for name in self.stack.instances(service)
        }
        return asyncio.run(
            relay_leader(self.stack.database_url, local_ports(pids), service)
        )

    def members(self, service: str) -> int:
        return asyncio.run(group_members(self.stack.kafka_bootstrap, GROUPS[service]))

    def kill_leader(self, service: str, run: Run, began: float) -> str:
        """SIGKILL the instance holding the relay lock and wait until a survivor takes it; returns the killed one."""
        before = poll(
            f"{service}: an instance to hold the relay lock",
            lambda: self.leader(service),
            self.takeover_s,
        )
        at = time.monotonic()
        self.stack.stop_service(before, sig=signal.SIGKILL)
        self.say(
            f"[{at - began:4.0f}s] SIGKILL {before} (holds the {service} relay lock)"
        )
        try:
            after = poll(
                f"{service}: a survivor to take the relay lock",
                lambda: self.leader(service),
                self.takeover_s,
            )
        except TimeoutError:
            after = None
        took = time.monotonic() - at
        problem = scale_checks.leader_moved(before, after, killed=before)
        if problem:
            run.fault_problems.append(f"{service} relay: {problem}")
        run.moves.append(
            f"{service} relay lock: {before} -> {after} {took:.1f}s after the kill"
        )
        return str(before)

    def add_back(self, service: str, instance: str, run: Run, began: float) -> None:
        """Start the killed instance again, as a supervisor would, on its own port."""
        at = time.monotonic()
        note = self.chaos.restart(
            service, instance=instance, port=self.stack.instance_ports[instance]
        )
        run.faults.append(
            f"{instance} started again at {at - began:.1f}s, ready in {time.monotonic() - at:.1f}s{note}"
        )

    def rebalance(self, service: str, run: Run, began: float) -> None:
        """A third instance joins the service's groups and leaves again: the group rebalances twice."""
        extra = f"{service}-{self.chaos.instances + 1}"
        at = time.monotonic()
        # Its group first has all of its instances and no more (a killed one stays a member until its session
        # times out), so the counts show the third one's coming and going alone.
        normal = poll(
            f"{GROUPS[service]} to have its {self.chaos.instances} members",
            lambda: (n := self.members(service)) == self.chaos.instances and n,
            self.takeover_s,
        )
        self.say(
            f"[{at - began:4.0f}s] {extra} joins ({GROUPS[service]} has {normal} members)"
        )
        self.chaos.restart(
            service,
            instance=extra,
            port=self.chaos.port(service, self.chaos.instances + 1),
        )
        joined = poll(
            f"{extra} to join {GROUPS[service]}",
            lambda: (n := self.members(service)) > normal and n,
            self.takeover_s,
        )
        self.stack.stop_service(extra, sig=signal.SIGTERM)
        left = poll(
            f"{extra} to leave {GROUPS[service]}",
            lambda: (n := self.members(service)) <= normal and n,
            self.takeover_s,
        )
        run.rebalances.append(
            f"{GROUPS[service]}: {normal} -> {joined} -> {left} members"
        )
        run.faults.append(
            f"{extra} joined {GROUPS[service]} and left at {at - began:.1f}s, {time.monotonic() - at:.1f}s"
        )

    def faults(self, run: Run, began: float, rebalance: tuple[str, ...]) -> None:
        """Kill each service's lock holder in turn; each killed one starts again while the next is killed.

        The restarts overlap (a supervisor restarts at once): on a loaded machine a service takes many seconds
        to start, and one after another would take minutes. A third instance visits a service's groups once
        that service has its two again, so that the member counts show its coming and going alone. (Visiting
        first, beside the other services' restarts, was tried: with five processes starting at once on two
        cores the visit took 30 s instead of 15, and the run's faults 54 s instead of 36.)
        """
        with ThreadPoolExecutor(max_workers=len(SERVICES) + len(rebalance)) as pool:
            back: dict[str, Future[None]] = {}
            for service in SERVICES:
                killed = self.kill_leader(service, run, began)
                back[service] = pool.submit(self.add_back, service, killed, run, began)

            def visit(service: str) -> None:
                back[service].result()
                self.rebalance(service, run, began)

            visits = [pool.submit(visit, service) for service in rebalance]
            for done in [*back.values(), *visits]:
                done.result()


async def agencies_report(
    database_url: str,
    bootstrap: str,
    state: Progress,
    reported: dict[str, str],
    until: asyncio.Event,
) -> None:
    """Each agency reports outcomes on its own topic for what it was delivered (``outcome_plan``)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    handled: set[str] = set()
    try:
        while True:
            stopping = until.is_set()
            conn = await asyncpg.connect(database_url)
            try:
                rows = await conn.fetch(
                    "SELECT assignment_id::text, agency_id FROM notifier.deliveries WHERE referral_id = ANY($1::uuid[])",
                    list(state.accepted),
                )
            finally:
                await conn.close()
            for row in rows:
                if row["assignment_id"] in handled:
                    continue
                handled.add(row["assignment_id"])
                for code in outcome_plan(row["assignment_id"]):
                    report = AgencyOutcome(
                        event_id=uuid.uuid4(),
                        assignment_id=row["assignment_id"],
                        outcome=code,
                        completion=CompletionOutcome.ADVICE_GIVEN
                        if code is OutcomeCode.COMPLETED
                        else None,
                        occurred_at=datetime.now(UTC),
                    )
                    await producer.send_and_wait(
                        f"agency.{row['agency_id']}.outcomes",
                        report.model_dump_json().encode(),
                        key=row["assignment_id"].encode(),
                    )
                    reported[str(report.event_id)] = row["assignment_id"]
            if stopping:
                return
            await asyncio.sleep(0.5)
    finally:
        await producer.stop()


async def burst(
    intakes: list[str],
    make: Callable[[int], mix.Submission],
    n: int,
    first: int,
    clients: int,
    database_url: str,
    settle_s: float,
    accepted: list[str],
) -> dict[str, float]:
    """``n`` referrals as fast as ``clients`` can send them; how fast they were accepted and then fully handled.

    The referral ids accepted are added to ``accepted``.
    """
    state = Progress(started=time.monotonic())
    batch = [make(first + i) for i in range(n)]
    await load(intakes, batch, 1e6, clients, state, 60.0, in_turn=patient_of)
    accepted_s = (state.loaded or time.monotonic()) - state.started
    left = await settle(database_url, state.accepted, lambda _: None, settle_s)
    if left:
        raise TimeoutError(f"the {n} referrals of the throughput burst: {left}")
    handled_s = time.monotonic() - state.started
    accepted.extend(state.accepted)
    return {
        "referrals": n,
        "accepted_per_s": round(n / accepted_s, 1),
        "handled_per_s": round(n / handled_s, 1),
        "handled_s": round(handled_s, 1),
    }


def _record(r: Any) -> scale_checks.Record:
    try:
        value = json.loads(r.value)
    except (TypeError, ValueError):
        value = None
    value = value if isinstance(value, dict) else {}
    occurred = value.get("occurred_at")
    event_id = str(value["event_id"]) if value.get("event_id") else None
    kind = value.get("type") if isinstance(value.get("type"), str) else None
    # An agency's report is kept under an id derived from its topic (an agency must not pre-empt a service's id).
    try:
        audit_id = (
            str(
                provenance.row_id(
                    r.topic, uuid.UUID(event_id), provenance.classify(r.topic, kind)
                )
            )
            if event_id
            else None
        )
    except (
        ValueError
    ):  # not an id: a poison record, which audit keeps as a dead letter's
        audit_id = None
    return scale_checks.Record(
        topic=r.topic,
        partition=r.partition,
        offset=r.offset,
        key=r.key.decode(errors="replace") if r.key else None,
        event_id=event_id,
        occurred_at=datetime.fromisoformat(occurred)
        if isinstance(occurred, str)
        else None,
        audit_id=audit_id,
        referral_id=str(value["referral_id"]) if value.get("referral_id") else None,
        assignment_id=_assignment_of(value),
    )


def _assignment_of(value: dict[str, Any]) -> str | None:
    """An event's assignment: its own field, or the one an agency's copy carries."""
    nested = value.get("assignment")
    found = value.get("assignment_id") or (
        nested.get("assignment_id") if isinstance(nested, dict) else None
    )
    return str(found) if found else None


async def read_every_topic(bootstrap: str, wait_s: float) -> list[scale_checks.Record]:
    """Every record on every audited topic, with its key, partition and offset (no group, nothing committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    out: list[scale_checks.Record] = []
    try:
        async with asyncio.timeout(wait_s):
            topics = sorted(
                t for t in await consumer.topics() if AUDITED_TOPICS.match(t)
            )
            consumer.subscribe(
                topics
            )  # as toolbox/topic_reader.py: without a group, every partition is ours
            while {tp.topic for tp in consumer.assignment()} != set(topics):
                await consumer.getmany(timeout_ms=100)
            partitions = sorted(consumer.assignment())
            end = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            todo = [tp for tp in partitions if end[tp] > 0]
            while todo:
                batch = await consumer.getmany(*todo, timeout_ms=500)
                for records in batch.values():
                    out.extend(_record(r) for r in records)
                todo = [tp for tp in todo if await consumer.position(tp) < end[tp]]
    finally:
        await consumer.stop()
    return out


async def audited_ids(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return [
            r["event_id"]
            for r in await conn.fetch("SELECT event_id::text FROM audit.audit_log")
        ]
    finally:
        await conn.close()


async def settle_all(
    database_url: str,
    state: Progress,
    reported: dict[str, str],
    say: Callable[[str], None],
    timeout_s: float,
) -> str:
    """Every referral handled, every outbox drained, every timer fired or cleared, every report recorded or refused."""
    left = await settle(database_url, state.accepted, say, timeout_s)
    if left:
        return left
    deadline = time.monotonic() + timeout_s
    outstanding = ""
    while time.monotonic() < deadline:
        timers, reports = await _undecided(database_url, state.accepted, reported)
        waiting = await pending(database_url, state.accepted)
        if timers == reports == waiting == 0:
            return ""
        outstanding = f"{timers} timers neither fired nor cleared, {reports} reports unrecorded, {waiting} rows or outbox"
        say(f"settling: {outstanding}")
        await asyncio.sleep(0.25)
    return f"not settled within {timeout_s:.0f}s: {outstanding}"


async def _undecided(
    database_url: str, accepted: list[str], reported: dict[str, str]
) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        timers = await conn.fetchval(
            "SELECT count(*) FROM notifier.sla_timers t JOIN notifier.deliveries d USING (assignment_id)"
            " WHERE d.referral_id = ANY($1::uuid[]) AND t.fired_at IS NULL AND t.cleared_at IS NULL",
            list(set(accepted)),
        )
        disposed = Counter(await _disposed(conn, list(reported)))
    finally:
        await conn.close()
    return timers, sum(1 for r in reported if disposed[r] == 0)


async def _disposed(conn: asyncpg.Connection, reports: list[str]) -> list[str]:
    """One id per recorded outcome row and per dead letter of a refused report."""
    recorded = [
        r["id"]
        for r in await conn.fetch(
            "SELECT report_id::text AS id FROM notifier.outcomes WHERE report_id = ANY($1::uuid[])",
            reports,
        )
    ]
    refused = []
    for row in await conn.fetch(
        "SELECT payload FROM notifier.dead_letters WHERE original_topic LIKE 'agency.%.outcomes'"
    ):
        try:
            refused.append(str(json.loads(bytes(row["payload"]))["event_id"]))
        except (ValueError, KeyError, TypeError):
            continue
    return recorded + refused


async def check(
    database_url: str,
    bootstrap: str,
    run: Run,
    budget: Budget,
    say: Callable[[str], None],
) -> Checks:
    accepted = run.progress.accepted
    with timed(say, "counted per referral"):
        counts = await count(database_url, bootstrap, accepted, budget.read_s)
    with timed(say, "read every topic"):
        records = await read_every_topic(bootstrap, budget.read_s)
    audit_waited = time.monotonic()
    on_topics = {r.audit_id for r in records if r.audit_id}
    # The audit consumers may still be behind the last records: wait (bounded) until no event is missing.
    deadline = time.monotonic() + budget.settle_s
    while True:
        audited = scale_checks.once(on_topics, await audited_ids(database_url))
        if audited.missing == 0 or time.monotonic() > deadline:
            break
        say(f"waiting for audit: {audited.missing} events unaudited")
        await asyncio.sleep(1.0)
    say(f"every event audited: {time.monotonic() - audit_waited:.1f}s")
    conn = await asyncpg.connect(database_url)
    try:
        outcomes = scale_checks.once(
            run.reported, await _disposed(conn, list(run.reported))
        )
        rows = await conn.fetch(
            "SELECT t.assignment_id::text, t.name, t.fired_at IS NOT NULL AS fired, t.cleared_at IS NOT NULL AS cleared"
            " FROM notifier.sla_timers t JOIN notifier.deliveries d USING (assignment_id) WHERE d.referral_id = ANY($1::uuid[])",
            list(set(accepted)),
        )
        escalations_audited = [
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id::text FROM audit.audit_log WHERE topic = 'referral.escalated'"
            )
        ]
    finally:
        await conn.close()
    timer_rows = [
        scale_checks.Timer(r["assignment_id"], r["name"], r["fired"], r["cleared"])
        for r in rows
    ]
    ids = {
        (t.assignment_id, t.name): str(
            derived_event_id(uuid.UUID(t.assignment_id), f"timer:{t.name}")
        )
        for t in timer_rows
    }
    escalated = [
        r.event_id for r in records if r.topic == "referral.escalated" and r.event_id
    ]
    return Checks(
        counts=counts,
        outcomes=outcomes,
        audited=audited,
        order=scale_checks.order(records),
        interleaved=scale_checks.order(records, per_referral=False),
        timers=scale_checks.timers(timer_rows, ids, escalated, escalations_audited),
        topics=len({r.topic for r in records}),
        records=len(records),
    )


def findings(c: Checks, run: Run) -> list[str]:
    """Everything that breaks a promise of the scale-out; empty when all held."""
    found = problems(c.counts) + run.fault_problems
    for name, o in (
        ("outcome reports recorded or refused", c.outcomes),
        ("audit rows per event on the topics", c.audited),
        ("escalation per fired timer on referral.escalated", c.timers.escalations),
        ("audit row per timer escalation", c.timers.audited),
    ):
        if o.missing or o.doubled or o.extra:
            found.append(
                f"{name}: {o.missing} missing, {o.doubled} more than once, {o.extra} for nothing expected"
            )
    if c.timers.undecided or c.timers.both:
        found.append(
            f"SLA timers: {c.timers.undecided} neither fired nor cleared, {c.timers.both} both"
        )
    found += [f"order: {b}" for b in c.order.breaks[:20]]
    if len(c.order.breaks) > 20:
        found.append(f"order: {len(c.order.breaks) - 20} more breaks")
    return found


def render(c: Checks, run: Run) -> list[str]:
    t = c.timers
    lines = ["throughput, the same burst on the same machine (a figure, not a target):"]
    for n, figures in sorted(run.throughput.items()):
        lines.append(
            f"  {n} instance{'s' if n > 1 else ' '} of each service: {figures['referrals']:.0f} referrals,"
            f" {figures['accepted_per_s']}/s accepted, {figures['handled_per_s']}/s handled end to end"
            f" (stored, routed, delivered, audited) in {figures['handled_s']}s"
        )
    lines += [
        "",
        f"faults ({len(run.faults)}):",
        *(f"  {f}" for f in run.faults),
        "",
        "relay leader lock:",
        *(f"  {m}" for m in run.moves),
        "rebalances:",
        *(f"  {r}" for r in run.rebalances),
        "",
    ]
    cc = c.counts
    lines.append(
        f"load: {cc.accepted} referrals accepted in {run.loaded_s:.0f}s; retried {cc.retries or 'never'};"
        f" unroutable {cc.unroutable}; assignments {cc.assignments}; outcome reports {len(run.reported)}"
    )
    lines += [
        "",
        f"  {'exactly once per key':<50}{'expected':>9}{'once':>9}{'missing':>9}{'twice+':>9}{'unasked':>9}",
    ]
    everything = {
        **cc.once,
        "outcome report recorded or refused": c.outcomes,
        "audit row per event on every topic": c.audited,
        "escalation per fired timer (topic)": t.escalations,
        "audit row per fired timer": t.audited,
    }
    for name, o in everything.items():
        lines.append(
            f"  {name:<50}{o.expected:>9}{o.expected - o.missing - o.doubled:>9}{o.missing:>9}{o.doubled:>9}"
            f"{o.extra:>9}"
        )
    lines += [
        "",
        f"SLA timers: {t.timers}: fired {t.fired}, cleared by an outcome {t.cleared}, neither {t.undecided}, both {t.both}",
        f"order: {c.records} records on {c.topics} topics; {c.order.records} keyed events checked over {c.order.keys}"
        f" patient keys and assignments (else referrals) per topic; {c.order.redelivered} redelivered copies; {len(c.order.breaks)} out of order",
        f"  per patient key alone, across that patient's referrals and assignments: {len(c.interleaved.breaks)} records"
        f" published after a later-stamped record of another (concurrent handling; not a failure)",
        f"agency copies: {cc.agency_copies} records, {cc.agency_copies_distinct} distinct event ids",
        f"audit chains: {cc.chain_summary}",
    ]
    return lines


async def _run(
    scale: ScaleOut,
    seconds: float,
    rate: float,
    most: int | None,
    clients: int,
    patients: int,
    burst_n: int,
    seed: int,
    rebalance: tuple[str, ...],
    budget: Budget,
) -> Run:
    """Load with faults and outcomes, settle; then the throughput bursts with N instances and with one; settle again."""
    say = scale.say
    rng = random.Random(seed)
    make = patient_mix(rng, [nhs_number(rng) for _ in range(patients)])
    stack = scale.stack
    intakes = [stack.url(i) for i in stack.instances("intake")]
    run = Run(Progress(started=time.monotonic()))
    faults_done, reports_done = asyncio.Event(), asyncio.Event()
    began = run.progress.started
    # Referrals go on until the faults are over, or until ``most`` have been sent (then the faults go on without).
    referrals = [make(i) for i in range(most)] if most else make
    loading = asyncio.create_task(
        load(
            intakes,
            referrals,
            rate,
            clients,
            run.progress,
            budget.give_up_s,
            until=faults_done,
            in_turn=patient_of,
        )
    )
    reporting = asyncio.create_task(
        agencies_report(
            stack.database_url,
            stack.kafka_bootstrap,
            run.progress,
            run.reported,
            reports_done,
        )
    )
    try:
        await asyncio.sleep(
            min(seconds, 3.0)
        )  # some load in flight before the first kill
        with timed(say, "faults (kills, takeovers, restarts, rebalance)"):
            await asyncio.to_thread(scale.faults, run, began, rebalance)
        left = seconds - (time.monotonic() - began)
        if left > 0:
            await asyncio.sleep(left)
    finally:
        faults_done.set()
        await loading
    run.loaded_s = (run.progress.loaded or time.monotonic()) - began
    say(
        f"[{time.monotonic() - began:4.0f}s] load done: {len(run.progress.accepted)} accepted; settling"
    )
    with timed(say, "settled after the load"):
        unsettled = await settle_all(
            stack.database_url, run.progress, run.reported, say, budget.settle_s
        )
    reports_done.set()
    await reporting
    if unsettled:
        run.fault_problems.append(unsettled)
        return run
    if burst_n:
        with timed(say, "throughput bursts"):
            await _bursts(scale, make, burst_n, clients, budget, run)
        # The bursts' referrals are counted with the load's: they too must come out exactly once.
        with timed(say, "settled after the bursts"):
            unsettled = await settle_all(
                stack.database_url, run.progress, run.reported, say, budget.settle_s
            )
        if unsettled:
            run.fault_problems.append(f"after the bursts: {unsettled}")
    return run


async def _bursts(
    scale: ScaleOut,
    make: Callable[[int], mix.Submission],
    n: int,
    clients: int,
    budget: Budget,
    run: Run,
) -> None:
    """The same burst with every instance running, then with the first instance of each service only."""
    stack, instances = scale.stack, scale.chaos.instances
    first = len(run.progress.accepted)
    intakes = [stack.url(i) for i in stack.instances("intake")]
    run.throughput[instances] = await burst(
        intakes,
        make,
        n,
        first,
        clients,
        stack.database_url,
        budget.settle_s,
        run.progress.accepted,
    )
    scale.say(f"{instances} instances of each service: {run.throughput[instances]}")
    with timed(scale.say, "all but the first instance of each service stopped"):
        scale.chaos.stop_services(
            [
                name
                for service in SERVICES
                for name in stack.instances(service)
                if name != f"{service}-1"
            ]
        )
    run.throughput[1] = await burst(
        [stack.url("intake-1")],
        make,
        n,
        first + n,
        clients,
        stack.database_url,
        budget.settle_s,
        run.progress.accepted,
    )
    scale.say(f"1 instance of each service: {run.throughput[1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.scale_out",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument(
        "--seconds",
        type=float,
        default=300.0,
        help="at least this long under load (faults included)",
    )
    parser.add_argument("--rate", type=float, default=4.0, help="referrals per second")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument(
        "--burst",
        type=int,
        default=400,
        help="referrals timed with one instance and with two",
    )
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument(
        "--rebalance",
        default="router,notifier,audit",
        help="services a third instance joins and leaves",
    )
    parser.add_argument("--kafka-port", type=int, default=25092)
    parser.add_argument("--postgres-port", type=int, default=25432)
    parser.add_argument(
        "--port-base",
        type=int,
        default=25000,
        help="instance n of the services: 10 * (n - 1) above",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="signpost-scale-"))
    outcome = scale_out(
        state,
        args.kafka_port,
        args.postgres_port,
        args.port_base,
        instances=args.instances,
        seconds=args.seconds,
        rate=args.rate,
        clients=args.clients,
        patients=args.patients,
        burst_n=args.burst,
        seed=args.seed,
        rebalance=tuple(filter(None, args.rebalance.split(","))),
        say=lambda text: print(text, flush=True),
    )
    checks, run, found = outcome
    lines = render(checks, run)
    print("\n" + "\n".join(lines))
    print(
        "PASS: nothing lost, doubled or reordered; every lock moved, every timer fired once, every chain verifies"
        if not found
        else "FAIL:\n  " + "\n  ".join(found)
    )
    record = {
        "report": lines,
        "throughput": run.throughput,
        "problems": found,
        "args": vars(args),
    }
    return finish(
        args.out / f"scale-out-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json",
        record,
        found,
        state,
    )


def scale_out(
    state: Path,
    kafka_port: int,
    postgres_port: int,
    port_base: int,
    *,
    instances: int = 2,
    seconds: float = 60.0,
    rate: float = 6.0,
    most: int | None = None,
    clients: int = 4,
    patients: int = 40,
    burst_n: int = 60,
    seed: int = 7,
    rebalance: tuple[str, ...] = ("router",),
    say: Callable[[str], None] = print,
    budget: Budget | None = None,
    ready_s: float = 120.0,
) -> tuple[Checks, Run, list[str]]:
    """Start, load with faults, settle, check; always stops what it started."""
    budget = budget or Budget()
    chaos = Chaos(
        state,
        kafka_port,
        postgres_port,
        port_base,
        ready_s=ready_s,
        instances=instances,
        extra_env={
            "SIGNPOST_SLA_DEMO_SECONDS": str(SLA_SECONDS),
            "SIGNPOST_SLA_CHECK_INTERVAL_S": "0.5",
        },
        say=say,
    )
    scale = ScaleOut(chaos, say)
    try:
        at = time.monotonic()
        chaos.start()
        say(
            f"Kafka, PostgreSQL and {instances} instances of each service started in {time.monotonic() - at:.0f}s"
        )
        run = asyncio.run(
            _run(
                scale,
                seconds,
                rate,
                most,
                clients,
                patients,
                burst_n,
                seed,
                rebalance,
                budget,
            )
        )
        with timed(say, "checks"):
            checks = asyncio.run(
                check(
                    chaos.stack.database_url if chaos.stack else "",
                    chaos.stack.kafka_bootstrap if chaos.stack else "",
                    run,
                    budget,
                    say,
                )
            )
    finally:
        chaos.stop()
    return checks, run, findings(checks, run)


if __name__ == "__main__":
    raise SystemExit(main())
