"""Shared fixtures: real infrastructure for integration and end-to-end tests."""

from collections.abc import Iterator

import pytest

from tests.support.infrastructure import Infrastructure, provide


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with provide() as infra:
        yield infra
