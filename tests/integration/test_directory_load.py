"""Loading the directory costs the same number of revision bumps whatever its size (real PostgreSQL).

The revision triggers fire once per statement, and every firing adds a version of the one counter row that
later firings in the transaction step over: a statement per row made a 4,000-row load take 6.4 s and a 100k
directory never finish (benchmarks/growth.py found it). One statement per table keeps a load linear.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.growth import grown, seed_directory
from services.router.domain.directory import Directory, merge
from services.router.store import directory as directory_store
from signpost import database
from tests.support.infrastructure import Infrastructure
from tests.support.scratch_database import scratch_database

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "router" / "migrations"


@pytest.fixture
def router_database(infrastructure: Infrastructure) -> Iterator[str]:
    with scratch_database(infrastructure.database_url, "directory_load") as url:
        yield url


async def test_every_load_bumps_the_revision_equally_and_reads_back_whole_whatever_its_size(
    router_database: str,
) -> None:
    seed = seed_directory()
    small = Directory.model_validate(seed)
    big = merge([small, Directory.model_validate(grown(seed, 20))])
    pool = await database.connect(router_database, "router")
    try:
        await database.migrate(pool, "router", MIGRATIONS)
        async with pool.acquire() as conn:
            bumps, sizes = [], []
            for directory in (small, big, small):
                before = await conn.fetchval("SELECT revision FROM directory_revision")
                await directory_store.load(conn, directory, source="test")
                bumps.append(
                    await conn.fetchval("SELECT revision FROM directory_revision")
                    - before
                )
                stored, _ = await directory_store.read_with_revision(conn)
                assert stored is not None
                sizes.append(
                    (
                        len(stored.services),
                        len(stored.networks),
                        len(stored.organisations),
                    )
                )
    finally:
        await pool.close()
    assert len(big.services) > 20 * len(small.services)
    assert bumps[0] == bumps[1] == bumps[2], (
        f"revision bumps per load grew with its size: {bumps}"
    )
    assert sizes == [
        (len(d.services), len(d.networks), len(d.organisations))
        for d in (small, big, small)
    ]
