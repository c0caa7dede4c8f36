"""Development client keys and tokens.

``deploy/dev/`` holds a client registry and private keys for development and
tests only: they are public in this repository and must never be trusted
outside a developer's machine. Production supplies its own registry
(``SIGNPOST_CLIENTS_FILE``) holding public keys only.
"""

from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signpost.clients import Client, load_clients, mint

REPO = Path(__file__).resolve().parent.parent
DEV_DIR = REPO / "deploy" / "dev"

DEV_CLIENTS: list[dict[str, str]] = [
    {"client_id": "gp-h81001", "organisation": "H81001", "role": "referrer"},
    {"client_id": "gp-h81002", "organisation": "H81002", "role": "referrer"},
    {"client_id": "icn-pharmacist-rj6", "organisation": "RJ6", "role": "referrer"},
    {
        "client_id": "agency-demo-pharmacy",
        "organisation": "FA001",
        "role": "agency",
        "agency_id": "demo-pharmacy",
    },
    {"client_id": "operations", "organisation": "QWU", "role": "operations"},
    {
        "client_id": "agency-social-services-croydon-north",
        "organisation": "LBCRO",
        "role": "agency",
        "agency_id": "social-services-croydon-north",
    },
]


def write_dev_registry(
    directory: Path = DEV_DIR, clients: list[dict[str, str]] = DEV_CLIENTS
) -> None:
    """Write the registry; a client that already has a key keeps it, so running stacks and minted tokens stay valid."""
    (directory / "keys").mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in clients:
        pem = directory / "keys" / f"{spec['client_id']}.pem"
        if pem.exists():
            key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
            assert isinstance(key, Ed25519PrivateKey), f"{pem} is not an Ed25519 key"
        else:
            key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (directory / "keys" / f"{spec['client_id']}.pem").write_bytes(private)
        entries.append({**spec, "public_key": public.decode()})
    header = "# DEVELOPMENT ONLY: these keys are public. Regenerate with `signpost tokens dev-registry`.\n"
    (directory / "clients.yaml").write_text(
        header + yaml.safe_dump({"clients": entries}, sort_keys=False)
    )
    if (
        directory == DEV_DIR
    ):  # what production refuses, for images that do not carry deploy/dev/
        from signpost.startup_checks import DIGESTS_FILE, scan

        DIGESTS_FILE.write_text(scan(directory).as_json())


def dev_token(client_id: str, lifetime_s: int = 900, directory: Path = DEV_DIR) -> str:
    clients = load_clients(directory / "clients.yaml")
    client: Client = clients[client_id]
    return mint(
        client, (directory / "keys" / f"{client_id}.pem").read_text(), lifetime_s
    )


if __name__ == "__main__":
    write_dev_registry()
