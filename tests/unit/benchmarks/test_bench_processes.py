"""The benchmark's CPU accounting: parts found by their port, their children counted, the load generator apart."""

import socket
import subprocess
import sys

import psutil

from benchmarks import processes
from benchmarks.processes import LOAD_GENERATOR, Watched


def test_a_part_is_found_by_the_port_it_listens_on_not_by_its_name() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        found = processes.discover(
            {"intake": port, "kafka": 1}
        )  # nothing of ours listens on port 1

    assert Watched("intake", psutil.Process().pid) in found
    assert [p.name for p in found] == ["intake", LOAD_GENERATOR]


def test_a_part_counts_its_reaped_children_and_the_load_generator_does_not() -> None:
    me = [
        Watched("postgresql", psutil.Process().pid),
        Watched(LOAD_GENERATOR, psutil.Process().pid),
    ]
    before = processes.cpu_seconds(me)
    # A child that burns CPU and exits, reaped by this process: as a PostgreSQL backend by its postmaster.
    subprocess.run(
        [sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True
    )
    after = processes.cpu_seconds(me)

    child = (after["postgresql"] - before["postgresql"]) - (
        after[LOAD_GENERATOR] - before[LOAD_GENERATOR]
    )
    assert child > 0.05, "the reaped child's CPU belongs to its parent's part"


def test_cpu_per_referral_sums_the_system_without_the_load_generator() -> None:
    before = {"intake": 1.0, "kafka": 2.0, LOAD_GENERATOR: 0.0}
    after = {"intake": 1.5, "kafka": 2.25, LOAD_GENERATOR: 4.0}

    figures = processes.per_referral_ms(before, after, referrals=250, seconds=10.0)

    assert figures["ms_per_referral"] == {
        "intake": 2.0,
        "kafka": 1.0,
        LOAD_GENERATOR: 16.0,
    }
    assert figures["system_ms_per_referral"] == 3.0
    assert figures["system_cores"] == 0.075
