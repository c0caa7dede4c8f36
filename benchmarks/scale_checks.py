"""Pure checks of a scale-out run: exactly once per key, per-patient order on a topic, SLA timers.

The scale-out run (``benchmarks.scale_out``) gathers rows from PostgreSQL and
records from every topic; these functions judge them. They are plain
functions over plain values so that each can be shown to fail on a made-up
input (tests/unit/benchmarks/test_scale_checks.py): a check that cannot fail
proves nothing.
"""

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from benchmarks.chaos_counts import Once


def once(expected: Collection[str], found: Iterable[str]) -> Once:
    """Each expected key exactly once among ``found``: how many are missing, doubled, or found for no expected key."""
    seen = Counter(found)
    wanted = set(expected)
    return Once(
        expected=len(wanted),
        missing=sum(1 for k in wanted if seen[k] == 0),
        doubled=sum(1 for k in wanted if seen[k] > 1),
        extra=sum(1 for k in seen if k not in wanted),
    )


@dataclass(frozen=True)
class Record:
    """One record read from a topic, as much of it as the order check needs."""

    topic: str
    partition: int
    offset: int
    key: str | None
    event_id: str | None
    occurred_at: datetime | None
    audit_id: str | None = None
    """The id audit keeps it under: its own, or one derived from its topic where audit does not believe the writer."""
    referral_id: str | None = None
    assignment_id: str | None = None


@dataclass(frozen=True)
class OrderBreak:
    """A record of a patient key that came after a later one of the same key on the same topic."""

    topic: str
    key: str
    offset: int
    occurred_at: datetime
    after: datetime
    """The latest ``occurred_at`` of that key at a lower offset."""

    def __str__(self) -> str:
        # The key is a keyed hash, never the NHS number; a prefix is enough to find it again.
        return (
            f"{self.topic} key {self.key[:12]}… offset {self.offset}: occurred {self.occurred_at.isoformat()}"
            f" after {self.after.isoformat()}"
        )


@dataclass(frozen=True)
class Order:
    keys: int
    """Patient keys (per topic) with two or more records checked."""
    records: int
    """Records checked: first copies of keyed, timestamped events."""
    redelivered: int
    """Later copies of an event id already seen (at-least-once between outbox and broker): not checked again."""
    breaks: tuple[OrderBreak, ...]


def order(records: Iterable[Record], per_referral: bool = True) -> Order:
    """Per topic and patient key (and assignment, else referral), in offset order, ``occurred_at`` never goes back.

    A key lives on one partition, so offset order is the order the relay
    published. A second copy of an event id is a redelivery of the first (the
    relay resends what it could not mark as sent), so only first copies count.
    Records without a key or a time (dead letters of unreadable bytes) are not
    ordered events and are left out.

    ``per_referral``: one assignment's events (a referral's, for those of no
    one assignment) are made one after another under its row lock, so they
    must keep their order. Two referrals of one patient, or two assignments of
    one referral, are handled side by side by two instances: their events
    interleave in the order their transactions wrote the outbox, which can
    differ from the order of their clocks (and an agency's outcome carries the
    agency's own time). Without ``per_referral`` that interleaving is counted too.
    """
    by_partition: defaultdict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in records:
        by_partition[(r.topic, r.partition)].append(r)
    latest: dict[tuple[str, str], datetime] = {}  # per (topic, key or key/referral)
    per_key: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[str, str]] = set()
    breaks: list[OrderBreak] = []
    checked = redelivered = 0
    for (topic, _), rs in sorted(by_partition.items()):
        for r in sorted(rs, key=lambda x: x.offset):
            if r.key is None or r.occurred_at is None:
                continue
            if r.event_id is not None:
                if (topic, r.event_id) in seen:
                    redelivered += 1
                    continue
                seen.add((topic, r.event_id))
            checked += 1
            chain = r.assignment_id or r.referral_id
            where = (topic, f"{r.key}/{chain}" if per_referral and chain else r.key)
            per_key[where] += 1
            before = latest.get(where)
            if before is not None and r.occurred_at < before:
                breaks.append(
                    OrderBreak(topic, r.key, r.offset, r.occurred_at, before)
                )  # the key alone: no referral id
            else:
                latest[where] = r.occurred_at
    return Order(
        sum(1 for n in per_key.values() if n > 1), checked, redelivered, tuple(breaks)
    )


@dataclass(frozen=True)
class Timer:
    """An SLA timer row once the run has settled."""

    assignment_id: str
    name: str
    fired: bool
    cleared: bool


@dataclass(frozen=True)
class Timers:
    timers: int
    fired: int
    cleared: int
    undecided: int
    """Neither fired nor cleared after its time: a timer lost."""
    both: int
    """Fired and cleared: an outcome and a firing both took it."""
    escalations: Once
    """Per fired timer, its escalation event (by its derived id) on ``referral.escalated``; none for the others."""
    audited: Once
    """Per fired timer, one audit row of its escalation."""


def timers(
    rows: Iterable[Timer],
    escalation_id: dict[tuple[str, str], str],
    on_topic: Iterable[str],
    audited: Iterable[str],
) -> Timers:
    """Every timer fired exactly once or was cleared by an outcome, and each firing was published and audited once.

    ``escalation_id`` names the event id each timer's firing derives (``schemas.ids.derived_event_id``);
    ``on_topic`` is the distinct event ids on ``referral.escalated`` (a redelivered copy is not a second
    firing); ``audited`` the escalation event ids of the audit log, one per row.
    """
    rows = list(rows)
    fired = [escalation_id[(t.assignment_id, t.name)] for t in rows if t.fired]
    return Timers(
        timers=len(rows),
        fired=len(fired),
        cleared=sum(1 for t in rows if t.cleared),
        undecided=sum(1 for t in rows if not t.fired and not t.cleared),
        both=sum(1 for t in rows if t.fired and t.cleared),
        escalations=once(fired, set(on_topic)),
        audited=once(fired, audited),
    )


def leader_moved(before: str | None, after: str | None, killed: str) -> str:
    """Empty when the relay's leader lock went from the killed instance to a survivor; else what went wrong."""
    if before != killed:
        return f"the lock was held by {before or 'nobody'}, not by {killed}, when {killed} was killed"
    if after is None:
        return f"nobody took the lock after {killed} was killed"
    if after == killed:
        return f"{killed} still holds the lock after it was killed"
    return ""
