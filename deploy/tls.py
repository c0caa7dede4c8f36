"""A local certificate authority and one server certificate, for a stack on this machine.

``make run`` and the secured test broker encrypt every connection (Kafka
SASL_SSL, the services' HTTPS), so they need certificates that clients here
can verify. This makes a CA once per state directory and a server certificate
it signs for ``127.0.0.1``, ``::1`` and ``localhost``; clients trust ``ca.pem``.
A deployment brings certificates from its own CA instead (see the README).

Private keys are written 0600, in PKCS#8 PEM, unencrypted (Kafka reads them
inline from its properties, uvicorn from the file).

    python -m deploy.tls DIRECTORY [HOST ...]   # create (or keep) ca.pem, server.pem, server-key.pem, keystore.pem
"""

import datetime
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOSTS = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")
# A local CA lives as long as its state directory; renewal is "delete the directory".
CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True)
class LocalTLS:
    """Where one state directory keeps its CA and server certificate."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def cert_file(self) -> Path:
        """The server certificate followed by the CA's: the chain a server presents."""
        return self.directory / "server.pem"

    @property
    def key_file(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def keystore_file(self) -> Path:
        """Key then chain in one PEM file: a Kafka PEM keystore by location (``ssl.keystore.location``)."""
        return self.directory / "keystore.pem"

    def complete(self) -> bool:
        files = (
            self.ca_file,
            self.ca_key_file,
            self.cert_file,
            self.key_file,
            self.keystore_file,
        )
        return all(p.is_file() for p in files)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Signpost local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ensure(directory: Path, hosts: tuple[str, ...] = ()) -> LocalTLS:
    """The CA and server certificate in ``directory`` (for this machine and ``hosts``), made now if any part is missing."""
    tls = LocalTLS(directory)
    if tls.complete():
        return tls
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Signpost local CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(h) for h in dict.fromkeys((*HOSTS, *hosts))
    ]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(tls.ca_key_file, _pem_key(ca_key))
    _write_private(tls.key_file, _pem_key(key))
    tls.cert_file.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    _write_private(tls.keystore_file, _pem_key(key) + tls.cert_file.read_bytes())
    # Last: complete() is true only once everything else is in place.
    tls.ca_file.write_bytes(ca.public_bytes(pem))
    return tls


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    tls = ensure(Path(args[0]), tuple(args[1:]))
    print(f"CA {tls.ca_file}; server certificate {tls.cert_file}, key {tls.key_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
