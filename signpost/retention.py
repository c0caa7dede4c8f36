"""Retention for the copies of personal data a service keeps only to do its work: pruned on a schedule.

Outbox rows keep the whole event (a referral, an agency's case) after it is
published; inbox ids, webhook bodies and dead letters stay too. Without this,
three services kept every full referral for ever, outside audit's retention.
Each service prunes its own schema in a background loop (``signpost.loops``):
a rule for a table the schema lacks is skipped. Windows are settings
(``SIGNPOST_*_RETENTION_DAYS``); ``now`` is a parameter so tests need not wait.

What stays: intake's own store (the referral and its versions, the record
BaRS asks receivers to keep) and audit's log (digests of bodies, under its
own retention, ``signpost audit prune``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from signpost import logs
from signpost.settings import Settings

log = logs.get_logger()
BATCH = 5_000  # rows per statement: short locks, and the loop comes straight back while a rule finds more


@dataclass(frozen=True)
class Rule:
    """``sql`` deletes up to $2 rows older than $1; ``window`` picks the rule's window from the settings."""

    name: str
    sql: str
    window: Callable[[Settings], float]


def _older(table: str, column: str, where: str = "TRUE", key: str = "ctid") -> str:
    return f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {column} < $1 AND {where} LIMIT $2)"


RULES: list[Rule] = [
    # Published events: on Kafka now (and in the consumers' own stores). An unpublished row is never pruned.
    Rule(
        "outbox",
        _older("outbox", "published_at", "published_at IS NOT NULL"),
        lambda s: s.outbox_retention_days,
    ),
    # Ids of events already handled; see Settings.inbox_retention_days for why the window is what it is.
    Rule(
        "inbox",
        _older("processed_events", "processed_at"),
        lambda s: s.inbox_retention_days,
    ),
    # Originals too large to travel in their dead letters, kept as long as the letters themselves.
    Rule(
        "dead-letter-bodies",
        _older("dead_letter_bodies", "kept_at"),
        lambda s: s.dead_letter_retention_days,
    ),
]


def register(*rules: Rule) -> None:
    """A service's own tables (the notifier's webhook bodies, its dead letters) join the runtime's rules."""
    for rule in rules:
        if all(r.name != rule.name for r in RULES):
            RULES.append(rule)


async def prune(pool: asyncpg.Pool, settings: Settings, now: datetime) -> int:
    """One round over every rule, a batch each; returns how many rows went (the loop runs again while any do)."""
    pruned = 0
    for rule in RULES:
        try:
            status = await pool.execute(
                rule.sql, now - timedelta(days=rule.window(settings)), BATCH
            )
        except asyncpg.UndefinedTableError:
            continue  # not a table of this service
        count = int(status.split()[-1])
        if count:
            log.info("retention pruned", rule=rule.name, rows=count)
        pruned += count
    return pruned
