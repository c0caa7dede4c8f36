"""How a service authenticates to Kafka: SASL/SCRAM as its own principal, when it is given one.

Without credentials (local development, the test broker) services connect in
plaintext. With ``SIGNPOST_KAFKA_SASL_USERNAME`` and ``..._PASSWORD`` every
Kafka client of the service (consumers, the outbox producer, admin reads)
uses SCRAM-SHA-512 as that principal, and the broker's ACLs decide what it
may touch (``deploy/kafka/acls.py``).
"""

from typing import Any

from faststream.security import BaseSecurity, SASLScram512

from signpost.settings import Settings

MECHANISM = "SCRAM-SHA-512"


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for this service's principal; empty when it has none."""
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
    }


def broker_security(settings: Settings) -> BaseSecurity | None:
    """The same principal for FastStream's broker (its consumers)."""
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        return None
    return SASLScram512(settings.kafka_sasl_username, settings.kafka_sasl_password.get_secret_value(), use_ssl=False)
