"""How pytest-xdist shares the suite between workers (``make test TEST_WORKERS=N`` runs ``-n N --dist loadfile``).

Each worker has its own Kafka, PostgreSQL and ports (``worker_ports``). A
module never splits between workers (``loadfile``), since its module-scoped
stack, broker or database would start on each. The longest modules are handed
out first (with ``--no-loadscope-reorder``, in the order the workers collect),
so that the run does not end waiting on a long one that started last. A run
without xdist keeps its order.

The modules on the shared stack are not kept on one worker: xdist's
``loadgroup`` writes a test's group into its ``_nodeid``, which pytest 9 no
longer reads (it keeps ``_id``), so each worker that receives one of them
starts a shared stack of its own.
"""

import pytest

# The modules that take longest, longest first (measured: pytest --durations on 2 cores); the rest keep their order.
LONGEST = (
    "tests/e2e/test_scale_out.py",
    "tests/e2e/test_chaos.py",
)


def _rank(item: pytest.Item) -> int:
    module = item.nodeid.split("::", 1)[0]
    return LONGEST.index(module) if module in LONGEST else len(LONGEST)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    # Only a worker collects under xdist; it alone orders, after the shared stack's plugin has moved its modules.
    if hasattr(config, "workerinput"):
        items.sort(
            key=_rank
        )  # stable: each module keeps its tests' order, the others their order
