"""The CI-sized ``make chaos``: 300 referrals while each service, the broker and PostgreSQL are killed once.

It brings its own broker and PostgreSQL (it kills them), on ports of its own.
"""

import asyncio
import os
from pathlib import Path

from benchmarks.chaos import Chaos, problems, run

BASE = int(os.environ.get("SIGNPOST_TEST_CHAOS_PORT_BASE", "26000"))


def test_nothing_accepted_is_lost_or_doubled_when_everything_is_killed(tmp_path: Path) -> None:
    chaos = Chaos(tmp_path, kafka_port=BASE + 92, postgres_port=BASE + 32, port_base=BASE)
    chaos.start()
    try:
        counts, _ = asyncio.run(run(chaos, referrals=300, seed=11, concurrency=8))
    finally:
        chaos.stop()
    assert len(counts.faults) == 6, counts.faults
    assert counts.accepted == 300
    assert problems(counts) == []
    assert counts.assignments >= 300
    assert counts.chain_ok
