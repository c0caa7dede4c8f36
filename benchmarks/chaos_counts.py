"""The chaos run's counts, from the database and the agency topics, once the system has settled.

Every check is "exactly once per key": per accepted referral (stored, routed,
audited as submitted and as routed) or per assignment (delivered, audited as
delivered, its agency copy audited and on the agency's topic). The run has a
database of its own, so rows for keys nobody expected are counted too: a
referral stored that no 202 accounts for is a second referral made by a retry.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.audit.store.chains import verify
from toolbox.topic_reader import read_topics


@dataclass(frozen=True)
class Once:
    """How one thing that must happen exactly once per key (referral or assignment) turned out."""

    expected: int
    missing: int = 0
    doubled: int = 0
    """Keys with more than one row."""
    extra: int = 0
    """Rows for a key nobody expected: a referral no 202 accounts for, a delivery of no assignment."""


@dataclass
class Counts:
    accepted: int = 0
    """Distinct referral ids answered 202."""
    answered_twice: int = 0
    """202s naming a referral id another submission already got."""
    unroutable: int = 0
    assignments: int = 0
    assignments_duplicated: int = 0
    """The same referral assigned to the same service more than once."""
    once: dict[str, Once] = field(default_factory=dict)
    audit_rows_duplicated: int = 0
    """Event ids with more than one audit row."""
    agency_copies: int = 0
    agency_copies_distinct: int = 0
    chain_ok: bool = False
    chain_summary: str = ""
    retries: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    unsettled: str = ""
    """Why the system had not settled when the time ran out; empty when it had."""


ACCEPTED = "SELECT unnest($1::uuid[]) AS k"
ASSIGNED = "SELECT assignment_id AS k FROM router.assignments WHERE referral_id = ANY($1::uuid[])"


def _audited(event_types: str, key: str = "referral_id") -> str:
    return f"SELECT {key} AS k FROM audit.audit_log WHERE event_type IN ({event_types})"


# name: (the keys that must each have exactly one row, the rows: any row whose key is not expected is counted as extra)
CHECKS: dict[str, tuple[str, str]] = {
    "stored (intake.referrals)": (
        ACCEPTED,
        "SELECT referral_id AS k FROM intake.referrals",
    ),
    "routed (router.decisions)": (
        ACCEPTED,
        "SELECT referral_id AS k FROM router.decisions",
    ),
    "delivered (notifier.deliveries)": (
        ASSIGNED,
        "SELECT assignment_id AS k FROM notifier.deliveries",
    ),
    "audited: referral.submitted": (ACCEPTED, _audited("'referral.submitted'")),
    "audited: referral.routed/unroutable": (
        ACCEPTED,
        _audited("'referral.routed', 'referral.unroutable'"),
    ),
    "audited: assignment.delivered": (
        ASSIGNED,
        _audited("'assignment.delivered'", "(payload->>'assignment_id')::uuid"),
    ),
    "audited: agency copy": (
        ASSIGNED,
        _audited(
            "'agency.referral'", "(payload->'assignment'->>'assignment_id')::uuid"
        ),
    ),
}
ON_TOPIC = "agency copy on its topic (by event id)"
ALL_CHECKS = (*CHECKS, ON_TOPIC)

ONCE_SQL = """
WITH keys AS ({keys}), found AS ({rows}),
per_key AS (SELECT keys.k, count(found.k) AS n FROM keys LEFT JOIN found ON found.k = keys.k GROUP BY keys.k)
SELECT count(*) AS expected, count(*) FILTER (WHERE n = 0) AS missing, count(*) FILTER (WHERE n > 1) AS doubled,
       (SELECT count(*) FROM found WHERE NOT EXISTS (SELECT 1 FROM keys WHERE keys.k = found.k)) AS extra
FROM per_key
"""


async def _once(conn: asyncpg.Connection, ids: list[str]) -> dict[str, Once]:
    out = {}
    for name, (keys, rows) in CHECKS.items():
        row = await conn.fetchrow(ONCE_SQL.format(keys=keys, rows=rows), ids)
        assert row is not None  # an aggregate always answers one row
        out[name] = Once(**dict(row))
    return out


def copies_once(assignments: set[str], copies: list[dict[str, Any]]) -> Once:
    """Per assignment, the distinct event ids of its copies: one is right, the same id again is only a redelivery."""
    event_ids: defaultdict[str, set[str]] = defaultdict(set)
    for copy in copies:
        event_ids[str(copy["assignment"]["assignment_id"])].add(str(copy["event_id"]))
    return Once(
        expected=len(assignments),
        missing=len(assignments - event_ids.keys()),
        doubled=sum(1 for a in assignments if len(event_ids.get(a, ())) > 1),
        extra=len(event_ids.keys() - assignments),
    )


async def pending(database_url: str, accepted: list[str]) -> int | None:
    """What is still on its way: missing rows and unpublished outbox rows (None while PostgreSQL is away)."""
    ids = list(set(accepted))
    try:
        conn = await asyncpg.connect(database_url)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        missing = sum(o.missing for o in (await _once(conn, ids)).values())
        schemas = [
            r["table_schema"]
            for r in await conn.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"
            )
        ]
        unpublished = 0
        for schema in schemas:
            unpublished += await conn.fetchval(
                f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'
            )
        return missing + unpublished
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None
    finally:
        await conn.close()


async def count(
    database_url: str, bootstrap: str, accepted: list[str], read_s: float = 180.0
) -> Counts:
    ids = list(set(accepted))
    c = Counts(accepted=len(ids), answered_twice=len(accepted) - len(ids))
    conn = await asyncpg.connect(database_url)
    try:
        c.once = await _once(conn, ids)
        c.unroutable = await conn.fetchval(
            "SELECT count(*) FROM router.decisions WHERE outcome = 'unroutable' AND referral_id = ANY($1::uuid[])",
            ids,
        )
        assigned = await conn.fetch(
            "SELECT assignment_id::text, agency_id FROM router.assignments WHERE referral_id = ANY($1::uuid[])",
            ids,
        )
        c.assignments = len(assigned)
        c.assignments_duplicated = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM router.assignments WHERE referral_id = ANY($1::uuid[])"
            " GROUP BY referral_id, service_id HAVING count(*) > 1) d",
            ids,
        )
        c.audit_rows_duplicated = await conn.fetchval(
            "SELECT count(*) FROM (SELECT event_id FROM audit.audit_log GROUP BY event_id HAVING count(*) > 1) d"
        )
    finally:
        await conn.close()
    topics = sorted({f"agency.{r['agency_id']}.referrals" for r in assigned})
    try:
        records = await read_topics(bootstrap, topics, wait_s=read_s) if topics else []
    except TimeoutError:
        raise TimeoutError(
            f"the agency topics could not be read to their end within {read_s:.0f}s"
        ) from None
    copies = [m for m in records if m.get("type") == "agency.referral"]
    c.once[ON_TOPIC] = copies_once({r["assignment_id"] for r in assigned}, copies)
    c.agency_copies, c.agency_copies_distinct = (
        len(copies),
        len({m["event_id"] for m in copies}),
    )
    result = await verify(database_url)
    c.chain_ok, c.chain_summary = result.ok, result.summary
    return c
