"""Shared fixtures: real infrastructure for integration and end-to-end tests."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Before anything reads a port from the environment: an xdist worker moves its ports to its own (worker_ports).
from tests.support import worker_ports  # noqa: F401
from tests.support.infrastructure import Infrastructure, provide

# Property tests judge behaviour, never speed: on a loaded machine Hypothesis's per-example deadline and its
# "generation is slow" health check fail tests that are right (seen with six suites sharing two cores).
# Speed belongs in the benchmarks.
settings.register_profile(
    "signpost", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("signpost")

pytest_plugins = [
    "tests.support.hazards",
    "tests.support.distribution",
    "tests.support.shared_stack",
    "tests.support.helm_build",
]

# The tests sign in with the committed development identities (deploy/dev/); outside development mode
# settings have no registry or pseudonym key (tests/unit/test_startup_checks.py covers that path).
os.environ.setdefault("SIGNPOST_DEVELOPMENT_MODE", "1")


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with provide() as infra:
        yield infra
