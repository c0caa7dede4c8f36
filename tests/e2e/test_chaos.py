"""The CI-sized ``make chaos``: 150 referrals while each service, the broker and PostgreSQL are killed once.

It brings its own broker and PostgreSQL (it kills them), on ports of its own:
SIGNPOST_TEST_CHAOS_PORT_BASE, else 500 above SIGNPOST_TEST_PORT_BASE, so
suites side by side never meet.
"""

import asyncio
import os
from pathlib import Path

import pytest

from benchmarks.chaos import ACTIONS, Budget, Chaos, problems, render, run, tally

BASE = int(
    os.environ.get("SIGNPOST_TEST_CHAOS_PORT_BASE")
    or int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 500
)
# Enough that every fault (planned between 10% and 85% of them) lands while referrals still arrive and the
# mix fans out; the checks are per referral and per assignment, so more add time, not coverage.
REFERRALS = 150
# Every stage is bounded well inside pytest's 300 s, so a stuck run fails naming the stage
# (a client that cannot get a 202, a service that will not come back, a referral that never settles).
BUDGET = Budget(give_up_s=60, settle_s=90, read_s=30)


@pytest.mark.hazard("HAZ-001", "HAZ-002")
def test_nothing_accepted_is_lost_or_doubled_when_everything_is_killed(
    tmp_path: Path,
) -> None:
    chaos = Chaos(
        tmp_path,
        kafka_port=BASE + 92,
        postgres_port=BASE + 32,
        port_base=BASE,
        # A service killed while the broker restarts waits for it: on a loaded machine the broker alone was seen
        # to take 43 s to come back, and the service's Kafka retry backs off to 10 s.
        ready_s=90,
        say=print,
    )
    try:
        chaos.start()  # inside: a start that fails part-way still stops what it started
        # 15 a second: the load lasts about as long as a service takes to restart a few times over,
        # so every fault lands while referrals are still arriving.
        outcome = asyncio.run(
            run(
                chaos,
                referrals=REFERRALS,
                seed=11,
                rate=15,
                clients=4,
                say=print,
                budget=BUDGET,
            )
        )
    finally:
        chaos.stop()
    print("\n".join(render(outcome, REFERRALS)))
    counts = outcome.counts
    # What broke the promise (or never settled) first: it names the reason where a count would not.
    assert problems(counts) == [], f"{problems(counts)}; logs in {tmp_path / 'logs'}"
    assert sorted(f.split(" at ")[0] for f in counts.faults) == sorted(ACTIONS), (
        counts.faults
    )
    assert counts.accepted == REFERRALS
    # Intake really went away under the clients, and every attempt after that was a retry, not a new referral.
    assert counts.retries, "no request ever failed: the faults missed the load"
    assert tally(counts)["lost"] == tally(counts)["duplicated"] == 0
    assert counts.assignments > REFERRALS, "the mix fans out to several agencies"
    assert counts.agency_copies_distinct == counts.assignments
    assert counts.chain_ok, counts.chain_summary
