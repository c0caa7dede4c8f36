"""The service directory in PostgreSQL: load it from seed files, read it back for routing, change a service's status.

The pure ``Directory`` model stays the one ``decide`` works with; this module
only moves it in and out of the router's tables.

A reload keeps each service's live status (accepting, capacity, and who set it
when): the status is what the service itself last reported, and a seed file
written weeks ago must not overwrite it. The exception is a seed that changes
what the seeds say about a service's status (say ``accepting: false`` added
to close it for good): that is a deliberate edit, so it wins, and the status
is stamped as set by the seed. A seed that merely repeats what it said before
changes nothing. A service new to the directory starts with the seed's status.

A status a service reports lapses (``status_expires_at``): after that the
router treats it as accepting, with capacity unknown, until it reports again.
A status from the seeds does not lapse.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.router.domain.directory import Directory, Network, Organisation, Service
from signpost import logs
from signpost.consumer import NotReady
from signpost.database import Conn

log = logs.get_logger()

# The seed's status for a service differs from what the previous seed said: the new seed's status wins.
_SEED_CHANGED = (
    "(directory_services.seeded_accepting, directory_services.seeded_capacity)"
    " IS DISTINCT FROM (EXCLUDED.seeded_accepting, EXCLUDED.seeded_capacity)"
)
# Each table is written in one statement from a JSON array of rows: the revision triggers fire per statement, and
# each firing adds a version of the one counter row that later firings in the same transaction must step over, so
# a statement per row made a load's time grow with the square of its size (4,000 rows: 6.4 s; a 100k directory
# never finished). One statement per table bumps the revision a fixed number of times, whatever the size.
_UPSERT_SERVICES = (
    "INSERT INTO directory_services (service_id, name, service_type, ods_code, agency_id, network_ids, hours,"
    " accepting, capacity, seeded_accepting, seeded_capacity, status_updated_at, status_updated_by, status_expires_at)"
    " SELECT r.service_id, r.name, r.service_type, r.ods_code, r.agency_id, r.network_ids, r.hours,"
    " r.accepting, r.capacity, r.accepting, r.capacity, clock_timestamp(), $2, NULL"
    " FROM jsonb_to_recordset($1::jsonb) AS r(service_id text, name text, service_type text, ods_code text,"
    " agency_id text, network_ids text[], hours jsonb, accepting boolean, capacity integer)"
    " ON CONFLICT (service_id) DO UPDATE SET name = EXCLUDED.name, service_type = EXCLUDED.service_type,"
    " ods_code = EXCLUDED.ods_code, agency_id = EXCLUDED.agency_id, network_ids = EXCLUDED.network_ids,"
    " hours = EXCLUDED.hours, seeded_accepting = EXCLUDED.seeded_accepting, seeded_capacity = EXCLUDED.seeded_capacity,"
    + ", ".join(
        f" {column} = CASE WHEN {_SEED_CHANGED} THEN EXCLUDED.{column} ELSE directory_services.{column} END"
        for column in (
            "accepting",
            "capacity",
            "status_updated_at",
            "status_updated_by",
            "status_expires_at",
        )
    )
)
_UPSERT_ORGANISATIONS = (
    "INSERT INTO directory_organisations (ods_code, name, kind)"
    " SELECT r.ods_code, r.name, r.kind FROM jsonb_to_recordset($1::jsonb) AS r(ods_code text, name text, kind text)"
    " ON CONFLICT (ods_code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind"
)
_UPSERT_NETWORKS = (
    "INSERT INTO directory_networks (network_id, name, mode, practices)"
    " SELECT r.network_id, r.name, r.mode, r.practices"
    " FROM jsonb_to_recordset($1::jsonb) AS r(network_id text, name text, mode text, practices text[])"
    " ON CONFLICT (network_id) DO UPDATE SET name = EXCLUDED.name, mode = EXCLUDED.mode, practices = EXCLUDED.practices"
)


async def _lock_revision(conn: Conn) -> None:
    """Every writer takes the revision row first, so a load and a status update queue rather than deadlock."""
    await conn.execute("SELECT revision FROM directory_revision FOR UPDATE")


async def is_empty(conn: Conn) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM directory_loads)")


async def load(conn: Conn, directory: Directory, source: str) -> int:
    """Replace the directory with ``directory`` in one transaction; return the load's id."""
    async with conn.transaction():
        # One loader at a time: two concurrent loads would interleave their deletes.
        await conn.execute("LOCK TABLE directory_loads IN EXCLUSIVE MODE")
        await _lock_revision(conn)
        organisations = [
            {"ods_code": o.ods_code, "name": o.name, "kind": o.kind}
            for o in directory.organisations
        ]
        await conn.execute(_UPSERT_ORGANISATIONS, json.dumps(organisations))
        networks = [
            {
                "network_id": n.network_id,
                "name": n.name,
                "mode": n.mode,
                "practices": list(n.practices),
            }
            for n in directory.networks
        ]
        await conn.execute(_UPSERT_NETWORKS, json.dumps(networks))
        services = [
            {
                "service_id": s.service_id,
                "name": s.name,
                "service_type": s.service_type.value,
                "ods_code": s.ods_code,
                "agency_id": s.agency_id,
                "network_ids": list(s.network_ids),
                "hours": s.hours,
                "accepting": s.accepting,
                "capacity": s.capacity,
            }
            for s in directory.services
        ]
        await conn.execute(_UPSERT_SERVICES, json.dumps(services), f"seed {source}")
        # Whatever the new seed no longer lists is gone from the directory.
        for table, key, kept in (
            (
                "directory_services",
                "service_id",
                [s.service_id for s in directory.services],
            ),
            (
                "directory_networks",
                "network_id",
                [n.network_id for n in directory.networks],
            ),
            (
                "directory_organisations",
                "ods_code",
                [o.ods_code for o in directory.organisations],
            ),
        ):
            await conn.execute(
                f"DELETE FROM {table} WHERE NOT {key} = ANY($1::text[])", kept
            )
        load_id: int = await conn.fetchval(
            "INSERT INTO directory_loads (area, version, content_version, source) VALUES ($1, $2, $3, $4) RETURNING id",
            directory.area,
            directory.version,
            directory.content_version,
            source,
        )
    log.info(
        "directory loaded",
        area=directory.area,
        services=len(directory.services),
        load_id=load_id,
    )
    return load_id


# One statement, so one snapshot: a load committing half-way through a read can never mix two directories.
_SNAPSHOT = """
SELECT (SELECT revision FROM directory_revision) AS revision,
       (SELECT json_build_object('area', area, 'version', version) FROM directory_loads ORDER BY id DESC LIMIT 1) AS last,
       (SELECT json_agg(o) FROM directory_organisations o) AS organisations,
       (SELECT json_agg(n ORDER BY n.network_id) FROM directory_networks n) AS networks,
       (SELECT json_agg(s ORDER BY s.service_id) FROM directory_services s) AS services
"""


async def read_with_revision(conn: Conn) -> tuple[Directory | None, int]:
    """The directory as stored, with each service's live status, and the revision it is at; None before the first load."""
    row = await conn.fetchrow(_SNAPSHOT)
    assert row is not None  # a SELECT without FROM always yields its one row
    if row["last"] is None:
        return None, row["revision"]
    last = json.loads(row["last"])
    directory = Directory(
        area=last["area"],
        version=last["version"],
        organisations=tuple(
            Organisation(**o) for o in json.loads(row["organisations"] or "[]")
        ),
        networks=tuple(
            Network(
                network_id=n["network_id"],
                name=n["name"],
                mode=n["mode"],
                practices=tuple(n["practices"]),
            )
            for n in json.loads(row["networks"] or "[]")
        ),
        services=tuple(_service(s) for s in json.loads(row["services"] or "[]")),
    )
    return directory, row["revision"]


async def read(conn: Conn) -> Directory | None:
    return (await read_with_revision(conn))[0]


def _service(row: dict[str, Any]) -> Service:
    return Service(
        service_id=row["service_id"],
        name=row["name"],
        service_type=row["service_type"],
        ods_code=row["ods_code"],
        agency_id=row["agency_id"],
        network_ids=tuple(row["network_ids"]),
        hours=row["hours"],
        accepting=row["accepting"],
        capacity=row["capacity"],
        capacity_updated_at=row["status_updated_at"],
        status_expires_at=row.get("status_expires_at"),
    )


async def updated_by(conn: Conn) -> dict[str, str]:
    """Who last set each service's status (the agency's client, operations, or ``seed <files>``)."""
    rows = await conn.fetch(
        "SELECT service_id, status_updated_by FROM directory_services"
    )
    return {r["service_id"]: r["status_updated_by"] for r in rows}


async def revision(conn: Conn) -> int:
    """Moves with every committed change to the directory: a load, a status update, a fix by hand. One row, per batch."""
    found: int = await conn.fetchval("SELECT revision FROM directory_revision")
    return found


async def owner(conn: Conn, service_id: str) -> str | None:
    """The agency that provides the service; None if there is no such service."""
    found: str | None = await conn.fetchval(
        "SELECT agency_id FROM directory_services WHERE service_id = $1", service_id
    )
    return found


async def set_status(
    conn: Conn,
    service_id: str,
    accepting: bool,
    capacity: int | None,
    by: str,
    lasts: timedelta,
) -> dict[str, Any] | None:
    """Record what a service says about itself now, good for ``lasts``; None if there is no such service."""
    async with conn.transaction():
        await _lock_revision(conn)
        row = await conn.fetchrow(
            # One reading of the clock for both stamps: two calls to clock_timestamp() differ.
            "UPDATE directory_services SET accepting = $2, capacity = $3, status_updated_at = t.at,"
            " status_updated_by = $4, status_expires_at = t.at + $5 FROM (SELECT clock_timestamp() AS at) t"
            " WHERE service_id = $1"
            " RETURNING service_id, accepting, capacity, status_updated_at, status_updated_by, status_expires_at",
            service_id,
            accepting,
            capacity,
            by,
            lasts,
        )
    return dict(row) if row else None


@dataclass
class DirectoryCache:
    """The directory routing decides with: re-read only when the revision moves."""

    directory: Directory | None = None
    _revision: int | None = None

    async def current(self, conn: Conn) -> Directory:
        if self.directory is None or await revision(conn) != self._revision:
            fresh, at = await read_with_revision(conn)
            if fresh is None:
                raise NotReady(
                    "the service directory is empty: load one with `signpost directory load`"
                )
            self.directory, self._revision = fresh, at
            log.info(
                "directory refreshed",
                directory_version=fresh.content_version,
                revision=at,
            )
        return self.directory
