"""Shared fixtures: real infrastructure for integration and end-to-end tests."""

import os
from collections.abc import Iterator

import pytest

from tests.support.infrastructure import Infrastructure, provide

# The tests sign in with the committed development identities (deploy/dev/); outside development mode
# settings have no registry or pseudonym key (tests/unit/test_startup_checks.py covers that path).
os.environ.setdefault("SIGNPOST_DEVELOPMENT_MODE", "1")


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with provide() as infra:
        yield infra
