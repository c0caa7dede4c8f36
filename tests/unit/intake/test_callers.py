"""A token's signature is checked once; expiry, revocation and the rate limit still apply to every request."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.api import callers
from services.intake.api.callers import Caller
from signpost import auth, clients, http
from signpost.clients import Client, load_clients
from toolbox.tokens import DEV_DIR, dev_token

GP = "gp-h81001"


class Registry:
    """The client registry the app reads, editable by the test; and how often a signature was checked."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = load_clients(DEV_DIR / "clients.yaml")
        self.signatures_checked = 0


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    registry = Registry()
    verify_token = clients.verify_token

    def counted(*args: Any, **kwargs: Any) -> clients.Verified:
        registry.signatures_checked += 1
        return verify_token(*args, **kwargs)

    monkeypatch.setattr(auth, "verify_token", counted)
    monkeypatch.setattr(auth, "registry_for", lambda request: registry.clients)
    callers._accepted.clear()
    yield registry
    callers._accepted.clear()


@pytest.fixture
async def client(registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    http.install(app)

    @app.get("/who")
    async def who(principal: Caller) -> dict[str, str]:
        return {"client_id": principal.client_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_seen_before_is_not_checked_again(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    token = dev_token(GP)
    for _ in range(3):
        response = await client.get("/who", headers=bearer(token))
        assert response.json() == {"client_id": GP}
    assert registry.signatures_checked == 1


async def test_a_client_removed_from_the_registry_is_refused_at_its_next_request(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    token = dev_token(GP)
    assert (await client.get("/who", headers=bearer(token))).status_code == 200
    del registry.clients[GP]
    refused = await client.get("/who", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the token's key id names no registered client"


async def test_a_client_rekeyed_in_the_registry_is_refused_at_its_next_request(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    token = dev_token(GP)
    assert (await client.get("/who", headers=bearer(token))).status_code == 200
    other_key = registry.clients["operations"].public_key
    registry.clients[GP] = registry.clients[GP].model_copy(
        update={"public_key": other_key}
    )
    assert (await client.get("/who", headers=bearer(token))).status_code == 401


async def test_a_kept_token_past_its_expiry_is_checked_again(
    client: httpx.AsyncClient, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = dev_token(GP)
    await client.get("/who", headers=bearer(token))
    expires_at = callers._accepted[token].expires_at
    monkeypatch.setattr("services.intake.api.callers.time.time", lambda: expires_at)
    await client.get("/who", headers=bearer(token))
    assert registry.signatures_checked == 2


async def test_a_refused_token_is_not_kept(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    forged = dev_token(GP)[:-4] + "AAAA"
    for _ in range(2):
        refused = await client.get("/who", headers=bearer(forged))
        assert refused.status_code == 401
    assert registry.signatures_checked == 2
    assert not callers._accepted


async def test_every_request_with_a_kept_token_counts_towards_the_rate_limit(
    client: httpx.AsyncClient, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNPOST_RATE_LIMIT_REFERRER", "3/minute")
    from signpost.settings import get_settings

    get_settings.cache_clear()
    try:
        token = dev_token(GP)
        codes = [
            (await client.get("/who", headers=bearer(token))).status_code
            for _ in range(4)
        ]
    finally:
        get_settings.cache_clear()
    assert codes == [200, 200, 200, 429]
