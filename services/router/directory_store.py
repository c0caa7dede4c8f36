"""The service directory in PostgreSQL: load it from seed files, read it back for routing, change a service's status.

The pure ``Directory`` model stays the one ``decide`` works with; this module
only moves it in and out of the router's tables. A reload keeps each
service's live status (accepting, capacity and who last set it): the status
is what the service itself reported, and a seed file written weeks ago must
not overwrite it. A service new to the directory starts with the seed's.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.router.domain.directory import Directory, Network, Organisation, Service
from signpost import logs
from signpost.consumer import NotReady
from signpost.database import Conn

log = logs.get_logger()


async def is_empty(conn: Conn) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM directory_loads)")


async def load(conn: Conn, directory: Directory, source: str) -> int:
    """Replace the directory with ``directory`` in one transaction; return the load's id."""
    async with conn.transaction():
        # One loader at a time: two concurrent loads would interleave their deletes.
        await conn.execute("LOCK TABLE directory_loads IN EXCLUSIVE MODE")
        await conn.executemany(
            "INSERT INTO directory_organisations (ods_code, name, kind) VALUES ($1, $2, $3)"
            " ON CONFLICT (ods_code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind",
            [(o.ods_code, o.name, o.kind) for o in directory.organisations],
        )
        await conn.executemany(
            "INSERT INTO directory_networks (network_id, name, mode, practices) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (network_id) DO UPDATE SET name = EXCLUDED.name, mode = EXCLUDED.mode, practices = EXCLUDED.practices",
            [(n.network_id, n.name, n.mode, list(n.practices)) for n in directory.networks],
        )
        now = datetime.now(UTC)
        await conn.executemany(
            "INSERT INTO directory_services (service_id, name, service_type, ods_code, agency_id, network_ids, hours,"
            " accepting, capacity, status_updated_at, status_updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (service_id) DO UPDATE SET name = EXCLUDED.name, service_type = EXCLUDED.service_type,"
            " ods_code = EXCLUDED.ods_code, agency_id = EXCLUDED.agency_id, network_ids = EXCLUDED.network_ids,"
            " hours = EXCLUDED.hours",
            [(s.service_id, s.name, s.service_type.value, s.ods_code, s.agency_id, list(s.network_ids), json.dumps(s.hours),
              s.accepting, s.capacity, now, f"seed {source}") for s in directory.services],
        )  # fmt: skip
        # Whatever the new seed no longer lists is gone from the directory.
        for table, key, kept in (
            ("directory_services", "service_id", [s.service_id for s in directory.services]),
            ("directory_networks", "network_id", [n.network_id for n in directory.networks]),
            ("directory_organisations", "ods_code", [o.ods_code for o in directory.organisations]),
        ):
            await conn.execute(f"DELETE FROM {table} WHERE NOT {key} = ANY($1::text[])", kept)
        load_id: int = await conn.fetchval(
            "INSERT INTO directory_loads (area, version, content_version, source) VALUES ($1, $2, $3, $4) RETURNING id",
            directory.area, directory.version, directory.content_version, source,
        )  # fmt: skip
    log.info("directory loaded", area=directory.area, services=len(directory.services), load_id=load_id)
    return load_id


async def read(conn: Conn) -> Directory | None:
    """The directory as stored, with each service's live status; None before the first load."""
    last = await conn.fetchrow("SELECT area, version FROM directory_loads ORDER BY id DESC LIMIT 1")
    if last is None:
        return None
    rows = await conn.fetch("SELECT ods_code, name, kind FROM directory_organisations")
    organisations = [Organisation(**dict(r)) for r in rows]
    networks = [
        Network(network_id=r["network_id"], name=r["name"], mode=r["mode"], practices=tuple(r["practices"]))
        for r in await conn.fetch("SELECT * FROM directory_networks ORDER BY network_id")
    ]
    services = [_service(dict(r)) for r in await conn.fetch("SELECT * FROM directory_services ORDER BY service_id")]
    return Directory(area=last["area"], version=last["version"], organisations=tuple(organisations), networks=tuple(networks),
                     services=tuple(services))  # fmt: skip


def _service(row: dict[str, Any]) -> Service:
    return Service(
        service_id=row["service_id"], name=row["name"], service_type=row["service_type"], ods_code=row["ods_code"],
        agency_id=row["agency_id"], network_ids=tuple(row["network_ids"]), hours=json.loads(row["hours"]),
        accepting=row["accepting"], capacity=row["capacity"], capacity_updated_at=row["status_updated_at"],
    )  # fmt: skip


async def stamp(conn: Conn) -> tuple[Any, ...]:
    """Changes whenever the directory does: a new load or a status update. One cheap query per batch."""
    row = await conn.fetchrow(
        "SELECT (SELECT max(id) FROM directory_loads) AS load, (SELECT max(status_updated_at) FROM directory_services) AS status"
    )
    return (row["load"], row["status"]) if row else (None, None)


async def set_status(conn: Conn, service_id: str, accepting: bool, capacity: int | None, by: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "UPDATE directory_services SET accepting = $2, capacity = $3, status_updated_at = clock_timestamp(),"
        " status_updated_by = $4 WHERE service_id = $1 RETURNING *",
        service_id, accepting, capacity, by,
    )  # fmt: skip
    return dict(row) if row else None


@dataclass
class DirectoryCache:
    """The directory routing decides with: re-read only when its stamp moves."""

    directory: Directory | None = None
    _stamp: tuple[Any, ...] | None = None

    async def current(self, conn: Conn) -> Directory:
        now = await stamp(conn)
        if self.directory is None or now != self._stamp:
            fresh = await read(conn)
            if fresh is None:
                raise NotReady("the service directory is empty: load one with `signpost directory load`")
            self.directory, self._stamp = fresh, now
            log.info("directory refreshed", directory_version=fresh.content_version)
        return self.directory
