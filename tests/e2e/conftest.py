from collections.abc import Iterator

import pytest

from signpost.stack import Stack
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import running


@pytest.fixture(scope="module")
def signpost_stack(infrastructure: Infrastructure, request: pytest.FixtureRequest) -> Iterator[Stack]:
    name = "e2e_" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with running(infrastructure, name) as stack:
        yield stack
