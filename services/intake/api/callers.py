"""Intake's callers: a bearer token's signature is checked once, then the token is known until it expires.

Checking an Ed25519-signed JWT cost about 140 µs, a quarter of intake's CPU
per referral, and a client system sends one token with many requests (its
lifetime is at most an hour). So a token that ``signpost.auth`` accepted is
kept, with the registry entry it was accepted under, and a later request with
the same token skips the signature. Nothing else is skipped:

- a kept token is used only before its ``exp``; after it, the token goes
  through ``signpost.auth`` again, which refuses it as expired (after its
  leeway), exactly as before;
- the registry is read on every request, as ``signpost.auth`` reads it: a
  client removed or re-keyed is refused at its next request;
- the rate limit counts every request.

A token that fails is never kept, so refusals cost what they always did. The
cache holds at most ``MAX_TOKENS`` tokens, the oldest going first: only
tokens that verified get in, so its size is bounded by the legitimate callers.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from signpost import auth, rate_limit
from signpost.clients import Client, Principal, revocation

MAX_TOKENS = 4096


@dataclass(frozen=True)
class _Accepted:
    principal: Principal
    expires_at: float
    client: Client


_accepted: OrderedDict[str, _Accepted] = OrderedDict()


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def _still_accepted(
    token: str, clients: dict[str, Client], now: float
) -> _Accepted | None:
    known = _accepted.get(token)
    if known is None:
        return None
    if now < known.expires_at and revocation(known.client, clients) is None:
        return known
    del _accepted[token]
    return None


async def caller(request: Request) -> Principal:
    """``signpost.auth.authenticated``, with the signature of a token it accepted not checked again until ``exp``."""
    token = _bearer(request)
    clients = auth.registry_for(request)
    known = _still_accepted(token, clients, time.time()) if token else None
    if known is None:
        # The whole check, its refusals and its rate limit: signpost.auth's own.
        principal = await auth.authenticated(request)
        client = clients.get(principal.client_id)
        if token and client is not None:
            _accepted[token] = _Accepted(
                principal, request.state.token_expires_at, client
            )
            if len(_accepted) > MAX_TOKENS:
                _accepted.popitem(last=False)
        return principal
    request.state.principal = known.principal
    request.state.token_expires_at = known.expires_at
    await rate_limit.limiter_for(request).check(known.principal)
    return known.principal


Caller = Annotated[Principal, Depends(caller)]
