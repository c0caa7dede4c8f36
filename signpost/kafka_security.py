"""How a service authenticates to Kafka and encrypts the connection: SASL_SSL as its own principal.

With ``SIGNPOST_KAFKA_SASL_USERNAME``/``..._PASSWORD`` every Kafka client of
the service (consumers, the outbox producer, admin reads) authenticates with
SCRAM-SHA-512 as that principal, and the broker's ACLs decide what it may
touch (``deploy/kafka/acls.py``). With ``SIGNPOST_KAFKA_SSL_CAFILE`` the
connection is TLS and the broker's certificate is verified against that CA
(host name included). Outside development mode a service needs both
(``signpost/startup_checks.py``); plaintext, with or without SCRAM, is for a
developer's machine and the fast test broker only.
"""

import ssl
from functools import lru_cache
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram512

from signpost.settings import Settings

MECHANISM = "SCRAM-SHA-512"


@lru_cache(maxsize=8)
def ssl_context(cafile: str) -> ssl.SSLContext:
    """A client context that trusts only this CA and checks the broker's name (one per CA file)."""
    context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    return context


def protocol(*, sasl: bool, tls: bool) -> str:
    return {
        (True, True): "SASL_SSL",
        (True, False): "SASL_PLAINTEXT",
        (False, True): "SSL",
    }.get((sasl, tls), "PLAINTEXT")


def security_kwargs(
    username: str | None, password: str | None, cafile: str | None
) -> dict[str, Any]:
    """aiokafka producer/consumer/admin keyword arguments; empty for plaintext without a principal."""
    sasl = bool(username and password)
    kwargs: dict[str, Any] = {}
    if sasl or cafile:
        kwargs["security_protocol"] = protocol(sasl=sasl, tls=bool(cafile))
    if sasl:
        kwargs.update(
            sasl_mechanism=MECHANISM,
            sasl_plain_username=username,
            sasl_plain_password=password,
        )
    if cafile:
        kwargs["ssl_context"] = ssl_context(cafile)
    return kwargs


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for this service's principal and CA."""
    password = (
        settings.kafka_sasl_password.get_secret_value()
        if settings.kafka_sasl_password
        else None
    )
    return security_kwargs(
        settings.kafka_sasl_username, password, settings.kafka_ssl_cafile
    )


def broker_security(settings: Settings) -> BaseSecurity | None:
    """The same for FastStream's broker (its consumers)."""
    context = (
        ssl_context(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        return BaseSecurity(ssl_context=context) if context else None
    password = settings.kafka_sasl_password.get_secret_value()
    return SASLScram512(
        settings.kafka_sasl_username,
        password,
        ssl_context=context,
        use_ssl=context is not None,
    )
