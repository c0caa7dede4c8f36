"""The shared stack starts once for every module that opts in, runs them one after another, and stops before any other.

Run in pytester with a fake stack that writes what happens to a journal, so the
plugin's order and lifetime are checked in milliseconds; the e2e modules on the
real shared stack show that the real one works.
"""

import contextlib
from collections.abc import Iterator

import pytest

from tests.support import running_stack, shared_stack  # noqa: F401 - imported once, so every pytester run shares them

pytest_plugins = ["pytester"]
PLUGIN = (
    "-p",
    "tests.support.shared_stack",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)

CONFTEST = """
import contextlib
import pytest

JOURNAL = []

@pytest.fixture(scope="session")
def shared_stack_start():
    @contextlib.contextmanager
    def start():
        JOURNAL.append("start")
        yield "the shared stack"
        JOURNAL.append("stop")
    return start

@pytest.fixture(scope="module")
def own_stack():
    from tests.support.running_stack import occupying
    with occupying("own"):  # what running() does around a stack of a module's own
        JOURNAL.append("own")
        yield "an own stack"

def pytest_runtest_call(item):
    JOURNAL.append(item.name)

def pytest_sessionfinish(session):
    (session.config.rootpath / "journal.txt").write_text(" ".join(JOURNAL))
"""

SHARED_A = """
def test_a1(shared_stack):
    assert shared_stack == "the shared stack"

def test_a2_needs_no_stack():
    pass

def test_a3(shared_stack):
    pass
"""
OWN_B = """
def test_b1(own_stack):
    pass
"""
SHARED_C = """
def test_c1(shared_stack):
    pass
"""


def run(pytester: pytest.Pytester, *args: str) -> list[str]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=SHARED_A, test_b=OWN_B, test_c=SHARED_C)
    result = pytester.runpytest_inprocess(*PLUGIN, *args)
    result.assert_outcomes(passed=5)
    return (pytester.path / "journal.txt").read_text().split()


def test_modules_on_the_shared_stack_run_together_on_one_start_and_it_stops_before_the_next_module(
    pytester: pytest.Pytester,
) -> None:
    journal = run(pytester)
    # test_c moves up to stand behind test_a; a module's test without a stack does not split the run in two.
    assert journal == [
        "start",
        "test_a1",
        "test_a2_needs_no_stack",
        "test_a3",
        "test_c1",
        "stop",
        "own",
        "test_b1",
    ]


MIXED_D = """
def test_d1(shared_stack):
    pass

def test_d2(own_stack):
    pass

def test_d3(shared_stack):
    pass
"""


def test_a_stack_of_a_modules_own_makes_the_shared_one_give_way_and_never_runs_beside_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_d=MIXED_D)
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*another stack runs on the broker*never both*"])
    assert (pytester.path / "journal.txt").read_text().split() == [
        "start",
        "test_d1",
        "stop",
        "own",
        "test_d2",
    ]


def test_the_ordering_keeps_everything_else_where_it_was() -> None:
    grouped = shared_stack.grouped
    order = ["u1", "s1", "u2", "s2", "u3", "s3"]
    assert grouped(order, lambda x: x.startswith("s")) == [
        "u1",
        "s1",
        "s2",
        "s3",
        "u2",
        "u3",
    ]
    assert grouped(["u1", "u2"], lambda x: x.startswith("s")) == ["u1", "u2"]


def test_a_start_that_failed_fails_the_rest_of_its_module_at_once_and_is_tried_again_for_the_next() -> (
    None
):
    tries: list[str] = []

    @contextlib.contextmanager
    def start() -> Iterator[str]:
        tries.append("start")
        if len(tries) == 1:
            raise TimeoutError("intake not ready after 60s")
        yield "the shared stack"

    shared = shared_stack.Shared(start)
    for _ in range(2):
        with pytest.raises(TimeoutError, match="not ready"):
            shared.get("tests.e2e.test_a")
    assert tries == ["start"], "not tried again for the module it failed"
    assert shared.get("tests.e2e.test_b") == "the shared stack"
    assert (tries, shared.starts) == (["start", "start"], 1)
    shared.stop()
