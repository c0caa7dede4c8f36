"""End-to-end stacks: ``signpost_stack``, a stack of the module's own, or ``shared_stack`` (tests/support/shared_stack.py).

A module that stops services, tampers with the audit chain, changes settings
or counts rows it did not make keeps a stack of its own; every other module
uses the shared one, with patients, referrals and agencies of its own.
"""

from collections.abc import Iterator

import pytest

from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import running
from toolbox.stack import Stack


@pytest.fixture(scope="module")
def signpost_stack(
    infrastructure: Infrastructure, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """Four services of this module's own in a fresh database (the shared stack makes way while it runs)."""
    name = "e2e_" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with running(infrastructure, name) as stack:
        yield stack
