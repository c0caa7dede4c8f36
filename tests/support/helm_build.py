"""The helm build `make test` runs beside the tests: a test that renders the chart waits for it first.

`make test` builds helm, logging to $SIGNPOST_HELM_BUILD_LOG and writing its exit status to the log's
``.status`` file when done. A cold build takes minutes. In one process most of them passed under the e2e
modules collected first; on xdist workers a module that renders the chart can come up while the build still
runs, so every such module asks for ``helm_built`` instead of relying on the order.
"""

import os
from pathlib import Path

import pytest

from deploy.processes import wait_until

HELM_BUILD_WAIT_S = 600
# pytest's own per-test timeout (pyproject) would cut the wait short; helm's runs are bounded in render.py.
WAITING_TIMEOUT = pytest.mark.timeout(HELM_BUILD_WAIT_S + 120)


def helm_build_problem(log: Path, wait_s: float) -> str | None:
    """Why the helm build logging to ``log`` gives no helm, after waiting up to ``wait_s`` for it; None once built."""
    status = log.with_name(log.name + ".status")
    try:
        wait_until(status.exists, wait_s, "the helm build", interval=0.5)
    except TimeoutError:
        return f"the helm build is still running after {wait_s:.0f} s:\n{_tail(log)}"
    if (code := status.read_text().strip()) != "0":
        return f"the helm build failed (status {code}, {log}):\n{_tail(log)}"
    return None


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def helm_built() -> None:
    """Under `make test`, wait for the helm build it started beside the tests, and fail with its log if it failed."""
    log = os.environ.get("SIGNPOST_HELM_BUILD_LOG")
    if log and (problem := helm_build_problem(Path(log), HELM_BUILD_WAIT_S)):
        pytest.fail(problem)
