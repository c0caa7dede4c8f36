"""Who is calling: the client registry, its signed JWT bearer tokens, and the principal a token proves.

In the style of OAuth2 client credentials with private-key JWTs: each client
system (a GP practice's system, an agency, operations tooling) holds its own
Ed25519 private key; Signpost holds only the public keys, in a client
registry. The registry, not the token, is the authority on a client's
organisation and role: a token that claims another organisation is refused.
"""

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jwt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from signpost import logs

AUDIENCE = "signpost"
ALGORITHM = "EdDSA"
MAX_LIFETIME_S = 3600
Role = Literal["referrer", "agency", "operations"]
# Who may submit a referral, and so who must hear back: GP systems and professionals, and agencies too (social
# services refer to the ICN pharmacist). Operations staff read referrals; they never make them. Intake's
# ``may_submit`` and every feedback topic (local stack, secured broker, chart, notifier) follow this one set.
REFERRING_ROLES: frozenset[Role] = frozenset({"referrer", "agency"})


class Client(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    organisation: str = Field(
        pattern=r"^[A-Z0-9]{3,9}$", description="ODS code the client acts for"
    )
    role: Role
    agency_id: str | None = None
    public_key: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the ISO 27789 'who' of every audit record."""

    client_id: str
    organisation: str
    role: Role
    agency_id: str | None = None


class AuthError(Exception):
    """A token was missing, malformed, expired, or not from a known client."""


def load_clients(path: Path) -> dict[str, Client]:
    raw = yaml.safe_load(path.read_text()) or {}
    clients = [Client.model_validate(c) for c in raw.get("clients", [])]
    return {c.client_id: c for c in clients}


def mint(
    client: Client,
    private_key_pem: str,
    lifetime_s: int = 900,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + lifetime_s,
        "jti": str(uuid.uuid4()),
        "org": client.organisation,
        "role": client.role,
    }
    if client.agency_id:
        claims["agency"] = client.agency_id
    return jwt.encode(
        claims, private_key_pem, algorithm=ALGORITHM, headers={"kid": client.client_id}
    )


@dataclass(frozen=True)
class Verified:
    """A verified token: who is calling, and until when the token vouches for them (its ``exp``, epoch seconds)."""

    principal: Principal
    expires_at: float


def verify(
    token: str, clients: dict[str, Client], now: float | None = None
) -> Principal:
    return verify_token(token, clients, now).principal


def verify_token(
    token: str, clients: dict[str, Client], now: float | None = None
) -> Verified:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError("the bearer token is not a JWT") from exc
    client = clients.get(str(header.get("kid", "")))
    if client is None:
        raise AuthError("the token's key id names no registered client")
    try:
        claims = jwt.decode(
            token,
            client.public_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud", "org", "role"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError(f"the token is invalid: {exc}") from exc
    current = now if now is not None else time.time()
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_S or claims["iat"] > current + 60:
        raise AuthError(
            "the token's lifetime is too long or it was issued in the future"
        )
    if claims["sub"] != client.client_id:
        raise AuthError("the token's subject does not match its key id")
    if claims["org"] != client.organisation or claims["role"] != client.role:
        raise AuthError(
            "the token claims an organisation or role this client is not registered for"
        )
    return Verified(
        Principal(client.client_id, client.organisation, client.role, client.agency_id),
        float(claims["exp"]),
    )


def revocation(connected: Client, clients: dict[str, Client]) -> str | None:
    """Why a client verified earlier no longer stands, or ``None``: removed from the registry, or its entry changed.

    A changed key is a revocation too: the old key may be the one that leaked.
    """
    current = clients.get(connected.client_id)
    if current is None:
        return "the client is no longer registered"
    if current != connected:
        return "the client's registration changed"
    return None


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[
        int, int, int
    ]  # inode, size, modification time (ns): any edit or replacement changes one
    clients: dict[str, Client]


_loaded: dict[str, _Loaded] = {}


def _registry(path: str) -> dict[str, Client]:
    """The registry file, read again whenever it changes: a client added, removed or re-keyed counts at once.

    A stat per request is a couple of microseconds. A file caught half-written (or gone) keeps the last good
    registry, logged, and is read again at the next request: one bad edit must not lock every client out. A
    file that changed while it was read is not kept either. Replace the file atomically (write a copy, rename
    it over) and no reader ever sees a part of it.
    """
    known = _loaded.get(path)
    try:
        stamp = _stamp(path)
        if known is not None and known.stamp == stamp:
            return known.clients
        loaded = _Loaded(stamp, load_clients(Path(path)))
        if _stamp(path) != stamp:
            # Changed while it was read (a writer that truncates, then writes): what was read may be half of it,
            # valid but short of clients. Not kept; read again, whole, at the next request.
            if known is not None:
                return known.clients
            return loaded.clients
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        if known is None:
            raise
        logs.get_logger().error(
            "client registry unreadable; keeping the last good one",
            error=type(exc).__name__,
        )
        return known.clients
    _loaded[path] = loaded
    return loaded.clients


def _stamp(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def registry() -> dict[str, Client]:
    """The client registry named by the settings (a relative path is from the project root)."""
    from signpost.settings import get_settings

    path = Path(get_settings().clients_file)
    if not path.is_absolute():
        path = Path(__file__).resolve().parent.parent / path
    return _registry(str(path))


def may_refer(role: Role) -> bool:
    return role in REFERRING_ROLES


def referring_organisations(clients: dict[str, Client]) -> set[str]:
    """The organisations of these clients that may refer: each hears back on its own feedback topic."""
    return {c.organisation for c in clients.values() if may_refer(c.role)}


def referrer_organisations() -> set[str]:
    """Every organisation in the registry that may refer, whatever its role: practice, professional or agency."""
    return referring_organisations(registry())
