"""Production refuses development identities: the checks a service passes before it starts.

The repository commits a client registry with its private keys (``operations``
included) and a pseudonym key, so that a developer's stack and the tests run
with no set-up. Anyone holding the repository can mint those clients' tokens
and reverse every ``patient_key`` by trying NHS numbers, so outside
``SIGNPOST_DEVELOPMENT_MODE`` a service refuses to start with any of them,
and equally with no registry, no pseudonym key, or a connection that is not
encrypted and authenticated. A copy of a committed file elsewhere is caught by
its content digest, and a registry of one's own that lists a committed public
key is caught by that key.

The digests are also committed in ``signpost/dev_identities.json`` (a test
keeps it equal to ``deploy/dev/``), so an image built without ``deploy/dev/``
still knows the committed files and keys it must refuse.

``problems`` is pure (it is handed the development files' digests and public
keys); ``enforce`` reads them and ends the process with one line per problem.
"""

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from signpost import terminology
from signpost.settings import DEV_DIR, DEV_PSEUDONYM_KEY, Settings

REPO = DEV_DIR.parent.parent
DIGESTS_FILE = Path(__file__).resolve().parent / "dev_identities.json"
Reader = Callable[[Path], bytes | None]
# Long enough that trying keys is hopeless (HMAC-SHA256: 32 random bytes is the key's own strength).
MIN_PSEUDONYM_KEY_CHARS = 32
# The settings that name a file: none of them may be a development file, wherever it was copied.
FILE_SETTINGS = ("clients_file", "tls_certfile", "tls_keyfile", "kafka_ssl_cafile")
FIX_DEV = "or set SIGNPOST_DEVELOPMENT_MODE=1 on a developer's machine"


@dataclass(frozen=True)
class DevelopmentIdentities:
    """What the repository commits: every file's SHA-256 under deploy/dev/ and those of the registry's public keys."""

    directory: Path
    digests: frozenset[str]
    public_keys: frozenset[str]

    def as_json(self) -> str:
        return (
            json.dumps(
                {
                    "files": sorted(self.digests),
                    "public_keys": sorted(self.public_keys),
                },
                indent=2,
            )
            + "\n"
        )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key_digest(pem: str) -> str:
    return sha256("".join(pem.split()).encode())


def scan(directory: Path = DEV_DIR) -> DevelopmentIdentities:
    """The digests of what ``directory`` holds now."""
    files = (
        [p for p in directory.rglob("*") if p.is_file()] if directory.is_dir() else []
    )
    keys: set[str] = set()
    registry = directory / "clients.yaml"
    if registry.is_file():
        keys = set(_public_keys(registry.read_bytes()))
    return DevelopmentIdentities(
        directory.resolve(),
        frozenset(sha256(p.read_bytes()) for p in files),
        frozenset(keys),
    )


def development_identities(
    directory: Path = DEV_DIR, committed: Path = DIGESTS_FILE
) -> DevelopmentIdentities:
    """deploy/dev/ as it is here, together with the committed digests (all an image without deploy/dev/ has)."""
    found = scan(directory)
    if not committed.is_file():
        return found
    known = json.loads(committed.read_text())
    return DevelopmentIdentities(
        found.directory,
        found.digests | set(known["files"]),
        found.public_keys | set(known["public_keys"]),
    )


def _public_keys(registry: bytes) -> Iterable[str]:
    try:
        raw = yaml.safe_load(registry) or {}
    except yaml.YAMLError:
        return []
    clients = raw.get("clients", []) if isinstance(raw, dict) else []
    return [
        _key_digest(str(c["public_key"]))
        for c in clients
        if isinstance(c, dict) and c.get("public_key")
    ]


def _resolve(path: str) -> Path:
    p = Path(path)
    return (p if p.is_absolute() else REPO / p).resolve()


def _env(setting: str) -> str:
    return f"SIGNPOST_{setting.upper()}"


def problems(
    settings: Settings, dev: DevelopmentIdentities, read: Reader | None = None
) -> list[str]:
    """Why this service must not start with these settings; empty when it may. Development mode allows all."""
    if settings.development_mode:
        return []
    read = read or _read_file
    found: list[str] = []
    for setting in FILE_SETTINGS:
        value = getattr(settings, setting)
        if not value:
            continue
        path = _resolve(value)
        content = read(path)
        if path.is_relative_to(dev.directory):
            found.append(
                f"{_env(setting)}={value} is a committed development file under deploy/dev/ "
                f"(its keys are public): supply your own, {FIX_DEV}"
            )
        elif content is not None and sha256(content) in dev.digests:
            found.append(
                f"{_env(setting)}={value} is a copy of a committed development file from deploy/dev/ "
                f"(its keys are public): supply your own, {FIX_DEV}"
            )
        elif content is None:
            found.append(
                f"{_env(setting)}={value} cannot be read: give the path of an existing file"
            )
    found += _registry_problems(settings, dev, read)
    found += _pseudonym_problems(settings)
    found += _transport_problems(settings)
    return found


TEXT_SERVICES = frozenset({"router", "notifier", "audit"})
"""The services that write texts a person reads, so need their area files whole."""


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _registry_problems(
    settings: Settings, dev: DevelopmentIdentities, read: Reader
) -> list[str]:
    if not settings.clients_file:
        return [
            f"SIGNPOST_CLIENTS_FILE is not set: give the path of your client registry (public keys only), {FIX_DEV}"
        ]
    content = read(_resolve(settings.clients_file))
    if content is None or sha256(content) in dev.digests:
        return []  # already said above
    committed = dev.public_keys.intersection(_public_keys(content))
    if committed:
        return [
            f"SIGNPOST_CLIENTS_FILE={settings.clients_file} lists {len(committed)} public key(s) of the committed "
            f"development clients, whose private keys are public: give those clients keys of their own"
        ]
    return []


def _pseudonym_problems(settings: Settings) -> list[str]:
    key = settings.pseudonym_key.get_secret_value()
    if not key:
        return [
            f"SIGNPOST_PSEUDONYM_KEY is not set: give a random secret of {MIN_PSEUDONYM_KEY_CHARS}+ characters "
            f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), the same for every service"
        ]
    if key == DEV_PSEUDONYM_KEY:
        return [
            f"SIGNPOST_PSEUDONYM_KEY is the committed development key, which reverses every patient_key: "
            f"give a random secret of your own, {FIX_DEV}"
        ]
    if len(key) < MIN_PSEUDONYM_KEY_CHARS:
        return [
            f"SIGNPOST_PSEUDONYM_KEY is shorter than {MIN_PSEUDONYM_KEY_CHARS} characters: NHS numbers are few "
            f"enough to try every one against a short key; give a longer random secret"
        ]
    return []


def _transport_problems(settings: Settings) -> list[str]:
    found = []
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        found.append(
            "Kafka is not authenticated: set SIGNPOST_KAFKA_SASL_USERNAME and SIGNPOST_KAFKA_SASL_PASSWORD "
            f"to this service's own SCRAM principal, {FIX_DEV}"
        )
    if not settings.kafka_ssl_cafile:
        found.append(
            "Kafka is not encrypted: set SIGNPOST_KAFKA_SSL_CAFILE to the CA file that signs the broker's "
            f"certificate (SASL_SSL), {FIX_DEV}"
        )
    if not settings.tls_certfile or not settings.tls_keyfile:
        found.append(
            "HTTP is not encrypted: set SIGNPOST_TLS_CERTFILE and SIGNPOST_TLS_KEYFILE to this service's "
            f"certificate and key (PEM), {FIX_DEV}"
        )
    return found


def area_problems(settings: Settings) -> list[str]:
    """A broken area file (signpost/terminology.py), in development mode too: wrong words are wrong everywhere."""
    try:
        terminology.configured(settings.areas_path)
    except terminology.TerminologyError as exc:
        return [f"SIGNPOST_AREAS_PATH={settings.areas_path}: {exc}"]
    return []


def enforce(service: str, settings: Settings) -> None:
    """Exit non-zero, one line per reason and no traceback, unless these settings may serve."""
    found = problems(settings, development_identities())
    found += area_problems(settings) if service in TEXT_SERVICES else []
    if found:
        for problem in found:
            print(f"signpost {service}: refusing to start: {problem}", file=sys.stderr)
        raise SystemExit(2)
