"""Webhook signatures: a genuine, fresh, untouched delivery passes; anything else is refused with its reason."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.webhooks.signing import (
    SignatureRejected,
    parse_header,
    sign,
    signature,
    verify,
)

SECRET = b"whsec-demo-pharmacy"
BODY = b'{"type":"agency.referral","assignment_id":"6d1f"}'
SENT = datetime(2026, 3, 13, 15, 0, tzinfo=UTC)
T = int(SENT.timestamp())


def rejection(
    header: str, body: bytes = BODY, secret: bytes = SECRET, now: datetime = SENT
) -> SignatureRejected:
    with pytest.raises(SignatureRejected) as refused:
        verify(secret, header, body, now)
    return refused.value


def test_the_header_is_a_timestamp_and_an_hmac_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, SENT) == f"t={T},v1={expected}"


def test_a_genuine_delivery_verifies() -> None:
    verify(SECRET, sign(SECRET, BODY, SENT), BODY, SENT + timedelta(seconds=30))


def test_a_tampered_body_is_refused() -> None:
    refused = rejection(sign(SECRET, BODY, SENT), body=BODY.replace(b"6d1f", b"6d20"))
    assert refused.code == "mismatch"
    assert refused.reason == "signature does not match the body and the shared secret"


def test_the_wrong_secret_is_refused() -> None:
    assert rejection(sign(b"someone-else", BODY, SENT)).code == "mismatch"


def test_a_replayed_old_delivery_is_refused_as_stale() -> None:
    refused = rejection(sign(SECRET, BODY, SENT), now=SENT + timedelta(seconds=301))
    assert refused.code == "stale"
    assert (
        refused.reason
        == "signature is 301s old, more than the 300s allowed; refusing a replay"
    )


def test_a_timestamp_from_the_future_is_refused() -> None:
    refused = rejection(sign(SECRET, BODY, SENT + timedelta(minutes=10)))
    assert refused.code == "future"
    assert "600s in the future" in refused.reason


def test_the_tolerance_is_inclusive_and_configurable() -> None:
    header = sign(SECRET, BODY, SENT)
    verify(SECRET, header, BODY, SENT + timedelta(seconds=300))
    verify(SECRET, header, BODY, SENT - timedelta(seconds=300))
    verify(
        SECRET, header, BODY, SENT + timedelta(hours=1), tolerance=timedelta(hours=1)
    )
    with pytest.raises(SignatureRejected, match="old"):
        verify(
            SECRET,
            header,
            BODY,
            SENT + timedelta(seconds=61),
            tolerance=timedelta(seconds=60),
        )


def test_a_forged_signature_is_called_a_mismatch_even_when_it_is_also_stale() -> None:
    assert (
        rejection(sign(b"forger", BODY, SENT), now=SENT + timedelta(days=1)).code
        == "mismatch"
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "signature header must look like t=<unix seconds>,v1=<hex>"),
        ("garbage", "signature header must look like t=<unix seconds>,v1=<hex>"),
        (
            f"t={T},,v1={'a' * 64}",
            "signature header must look like t=<unix seconds>,v1=<hex>",
        ),
        (
            f"=1,t={T},v1={'a' * 64}",
            "signature header must look like t=<unix seconds>,v1=<hex>",
        ),
        (f"v1={'a' * 64}", "signature header has no timestamp (t=)"),
        (f"t={T}", "signature header has no v1 signature"),
        (f"t={T},v0={'a' * 64}", "signature header has no v1 signature"),
        (f"t=abc,v1={'a' * 64}", "signature timestamp must be whole unix seconds"),
        (f"t=-5,v1={'a' * 64}", "signature timestamp must be whole unix seconds"),
        (f"t={T}.5,v1={'a' * 64}", "signature timestamp must be whole unix seconds"),
        (f"t={T},t={T},v1={'a' * 64}", "signature header has more than one timestamp"),
        (
            f"t={T},v1=not-hex",
            "v1 signature must be 64 lowercase hexadecimal characters",
        ),
        (
            f"t={T},v1={'A' * 64}",
            "v1 signature must be 64 lowercase hexadecimal characters",
        ),
        (
            f"t={T},v1={'a' * 63}",
            "v1 signature must be 64 lowercase hexadecimal characters",
        ),
        (f"t={T}," + ",".join([f"v1={'a' * 64}"] * 40), "signature header is too long"),
    ],
)
def test_a_malformed_header_is_refused_with_what_is_wrong(
    header: str, reason: str
) -> None:
    refused = rejection(header)
    assert (refused.code, refused.reason) == ("malformed", reason)


def test_spaces_around_parts_and_unknown_schemes_are_tolerated() -> None:
    good = signature(SECRET, T, BODY)
    verify(SECRET, f"t={T}, v0=legacy, v1={good}", BODY, SENT)


def test_rotation_signs_with_both_secrets_and_either_verifies() -> None:
    header = sign(b"new-secret", BODY, SENT, also=[b"old-secret"])
    assert len(parse_header(header).signatures) == 2
    verify(b"new-secret", header, BODY, SENT)
    verify(b"old-secret", header, BODY, SENT)
    assert rejection(header, secret=b"third").code == "mismatch"
