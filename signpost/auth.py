"""Client authentication over HTTP: the FastAPI dependency every route uses to know who is calling.

The registry, the tokens and the principal are framework-free, in
``signpost.clients``; this module only reads the bearer token off a request,
answers 401 or 429, and hands the route its ``Principal``.
"""

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from signpost.clients import AuthError, Client, Principal, registry, verify_token


def registry_for(request: Request) -> dict[str, Client]:
    return registry()


async def authenticated(request: Request) -> Principal:
    """FastAPI dependency: 401 with a reason unless a valid bearer token is presented; 429 over the client's rate.

    ``async`` although it never awaits: FastAPI runs a plain ``def`` dependency
    in a worker thread, and that hop cost more than the signature check itself.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        verified = verify_token(token.strip(), registry_for(request))
    except AuthError as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from exc
    principal = verified.principal
    request.state.principal = principal
    request.state.token_expires_at = verified.expires_at
    # Abuse limits, before the route does anything: a refused request changes nothing.
    from signpost.rate_limit import limiter_for

    await limiter_for(request).check(principal)
    return principal


Authenticated = Annotated[Principal, Depends(authenticated)]
