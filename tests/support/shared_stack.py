"""One stack for every test module that does not break it: started once, its modules run one after another.

A stack of a module's own (``signpost_stack``) costs four service starts in a
fresh database, about 5 s, and its first flows are slow while the consumers
join their groups. A module that neither stops services, tampers with the
audit chain, changes settings nor counts rows it did not make asks for
``shared_stack`` instead: every such module of the session shares one stack
in a database of its own.

Every stack of a session speaks to the same broker in the same consumer
groups, so two must never run at once. Hence the plugin:

- moves the modules on the shared stack up to stand together, where the first
  of them stood (everything else keeps its order);
- stops the shared stack after the last test of that run of modules, so the
  modules after it find the broker's groups to themselves;
- and stops it before any other stack starts (``running`` makes way); it
  starts again when next asked for, but never while another stack runs, so a
  module uses either the shared stack or a stack of its own, not both.
"""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.support import running_stack

T = TypeVar("T")
FIXTURES = {"shared_stack", "shared_stacks"}
SHARED = pytest.StashKey["Shared"]()
MODULES = pytest.StashKey[set[str]]()


class Shared:
    """The shared stack, started when first asked for and stopped when told (or when another stack needs the broker)."""

    def __init__(
        self, start: Callable[[], contextlib.AbstractContextManager[Any]]
    ) -> None:
        self._start = start
        self._exit: contextlib.ExitStack | None = None
        self.stack: Any = None
        self.starts = 0
        self._failed: tuple[str, BaseException] | None = None

    def get(self, asker: str = "") -> Any:
        """The running stack, started if need be; a start that failed is tried again only for another ``asker``.

        So, as with a stack of a module's own, a stack that cannot start fails each test of the module (its
        ``asker``) at once, instead of each one waiting out the readiness timeout again.
        """
        if self._failed is not None and self._failed[0] == asker:
            raise self._failed[1]
        if self._exit is None:
            if running_stack.occupied():
                raise RuntimeError(
                    "another stack runs on the broker (a module's own, in the same consumer groups): "
                    "a module uses either shared_stack or a stack of its own, never both"
                )
            try:
                with contextlib.ExitStack() as exit_stack:
                    self.stack = exit_stack.enter_context(self._start())
                    self._exit = exit_stack.pop_all()
            except Exception as failed:
                self._failed = (asker, failed)
                raise
            self.starts += 1
        return self.stack

    def stop(self) -> None:
        if self._exit is not None:
            leaving, self._exit, self.stack = self._exit, None, None
            leaving.close()


def grouped(items: list[T], shares: Callable[[T], bool]) -> list[T]:
    """``items`` with every shared one moved up behind the first of them, each part in its own order."""
    together = [i for i in items if shares(i)]
    if not together:
        return items
    first = items.index(together[0])
    rest = [i for i in items[first:] if not shares(i)]
    return items[:first] + together + rest


@pytest.fixture(scope="session")
def shared_stack_start(
    infrastructure: Any,
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """How the shared stack starts: the four services with their default settings, in the database ``e2e_shared``."""
    # Its clients are every shared module's: their requests within a minute would add up past one module's allowance,
    # which a stack of a module's own never saw. The limits themselves are tested on a stack of their own
    # (tests/e2e/test_abuse_limits.py).
    unlimited = {
        f"SIGNPOST_RATE_LIMIT_{role}": "1000000/minute"
        for role in ("REFERRER", "AGENCY", "OPERATIONS")
    }
    return lambda: running_stack.running(
        infrastructure, "e2e_shared", extra_env=unlimited, gives_way=True
    )


@pytest.fixture(scope="session")
def shared_stacks(
    request: pytest.FixtureRequest,
    shared_stack_start: Callable[[], contextlib.AbstractContextManager[Any]],
) -> Iterator[Shared]:
    shared = Shared(shared_stack_start)
    request.config.stash[SHARED] = shared
    with running_stack.giving_way(shared.stop):
        try:
            yield shared
        finally:
            shared.stop()


@pytest.fixture
def shared_stack(shared_stacks: Shared, request: pytest.FixtureRequest) -> Any:
    """The session's shared stack (``toolbox.stack.Stack``): use only your own patients, referrals and agencies.

    Asked for per test, so a stack that had to make way is started again; a module-scoped fixture that needs the
    stack running first asks ``shared_stacks.get(its module's name)``.
    """
    return shared_stacks.get(request.module.__name__)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    # A whole module moves, tests that need no stack included, so that they do not split the run in two.
    modules = {
        _module(i) for i in items if FIXTURES & set(getattr(i, "fixturenames", ()))
    }
    config.stash[MODULES] = modules
    items[:] = grouped(items, lambda i: _module(i) in modules)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Iterator[None]:
    outcome = yield
    shared = item.config.stash.get(SHARED, None)
    modules = item.config.stash.get(MODULES, set())
    if (
        shared is not None
        and _module(item) in modules
        and (nextitem is None or _module(nextitem) not in modules)
    ):
        shared.stop()
    return outcome
