"""Ports of a pytest-xdist worker's own: each worker runs its own Kafka, PostgreSQL and services.

Every port the tests open is an offset from one of five environment variables,
read when a module is imported. Worker ``gwN`` moves each of them ``N`` strides
up from the base the environment gives (or the modules' default), before any
test module reads them; worker ``gw0`` and a run without xdist keep the bases
as they are. The stride's default keeps up to four workers apart from each
other on the default bases and on a side-by-side suite's bases 1,000 apart;
``SIGNPOST_TEST_WORKER_PORT_STRIDE`` chooses another. No port may reach
Linux's ephemeral range, where a client's outgoing connection could hold it.
"""

import os
import re
from collections.abc import MutableMapping

# The variable and the default every module falls back to without it.
BASES = {
    "SIGNPOST_TEST_KAFKA_PORT": 19092,
    "SIGNPOST_TEST_POSTGRES_PORT": 15432,
    "SIGNPOST_TEST_PORT_BASE": 18000,
    "SIGNPOST_TEST_SECURE_KAFKA_PORT": 19392,
}
# Without it the chaos and scale-out tests stand 500 above SIGNPOST_TEST_PORT_BASE, which moves already.
CHAOS = "SIGNPOST_TEST_CHAOS_PORT_BASE"
STRIDE = 1200
# Above the highest offset a test adds to a base (the scale-out run's, 500 + 100 + 193 above SIGNPOST_TEST_PORT_BASE).
REACH = 800
EPHEMERAL = 32768


def worker_number(environ: MutableMapping[str, str]) -> int:
    """0 for ``gw0`` and for a run without xdist."""
    found = re.fullmatch(r"gw(\d+)", environ.get("PYTEST_XDIST_WORKER", ""))
    return int(found.group(1)) if found else 0


def offset(environ: MutableMapping[str, str]) -> None:
    """Move this worker's bases in ``environ``; refuse a layout that would reach the ephemeral range."""
    n = worker_number(environ)
    if n == 0:
        return
    shift = n * int(environ.get("SIGNPOST_TEST_WORKER_PORT_STRIDE", STRIDE))
    moved = {
        name: int(environ.get(name, default)) + shift for name, default in BASES.items()
    }
    if CHAOS in environ:
        moved[CHAOS] = int(environ[CHAOS]) + shift
    too_high = {name: port for name, port in moved.items() if port + REACH >= EPHEMERAL}
    if too_high:
        raise RuntimeError(
            f"worker gw{n}'s ports would reach {EPHEMERAL} (the ephemeral range): {too_high}; "
            "use fewer workers, a smaller SIGNPOST_TEST_WORKER_PORT_STRIDE or lower bases"
        )
    environ.update({name: str(port) for name, port in moved.items()})


offset(os.environ)
