"""Our webhook signatures pass a receiver that uses the published Standard Webhooks library, and the old header stays."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifier.domain.webhooks.signing import (
    LEGACY_HEADER_UNTIL,
    SIGNATURE_HEADER,
    secret_problem,
    signed_headers,
    standard_secret,
    verify,
)

BODY = b'{"event_id": "5d1c0e52-3c56-4f5b-9d0c-6f7e1b1a2f10", "status": "accepted"}'
PLAIN = "a-shared-secret-of-at-least-32-characters"
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("secret", [PLAIN, WHSEC])
def test_a_receiver_using_the_standard_webhooks_library_accepts_our_signature(
    secret: str,
) -> None:
    now = datetime.now(UTC)
    headers = signed_headers(secret, "5d1c0e52-3c56-4f5b-9d0c-6f7e1b1a2f10", BODY, now)
    assert (
        Webhook(standard_secret(secret)).verify(BODY, headers)["status"] == "accepted"
    )


def test_the_library_refuses_a_changed_body_or_another_secret() -> None:
    headers = signed_headers(PLAIN, "id-1", BODY, datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_secret(PLAIN)).verify(
            BODY.replace(b"accepted", b"declined"), headers
        )
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(BODY, headers)


def test_the_webhook_id_is_the_id_given_so_every_retry_of_a_delivery_carries_the_same() -> (
    None
):
    first = signed_headers(PLAIN, "copy-7", BODY, datetime.now(UTC))
    retry = signed_headers(
        PLAIN, "copy-7", BODY, datetime.now(UTC) + timedelta(minutes=1)
    )
    assert first["webhook-id"] == retry["webhook-id"] == "copy-7"


def test_the_deprecated_header_is_sent_beside_within_its_window_and_not_after() -> None:
    within = datetime(2027, 6, 30, 23, 0, tzinfo=UTC)
    headers = signed_headers(PLAIN, "id-1", BODY, within)
    verify(
        PLAIN.encode(), headers[SIGNATURE_HEADER], BODY, within
    )  # what a receiver of the old header checks
    after = datetime.combine(
        LEGACY_HEADER_UNTIL + timedelta(days=1), datetime.min.time(), UTC
    )
    assert SIGNATURE_HEADER not in signed_headers(PLAIN, "id-1", BODY, after)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsec_not*base64*at*all*padding*=", "whsec_ followed by standard base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, not 5"),
        (PLAIN, None),
        (WHSEC, None),
    ],
)
def test_a_whsec_secret_must_be_base64_of_a_key_of_24_to_64_bytes(
    secret: str, problem: str | None
) -> None:
    found = secret_problem(secret)
    assert found == problem if problem is None else problem in (found or "")
