"""Signing webhook deliveries so a receiver can tell they came from Signpost, untouched and recently.

Every delivery is signed in the Standard Webhooks form (standardwebhooks.com),
so a receiver can verify it with that convention's published libraries:
``webhook-id`` (the event id: the same on every retry of one delivery, so a
receiver deduplicates on it), ``webhook-timestamp`` (unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``.
The key is the registered secret: a ``whsec_<base64>`` secret is its decoded
bytes, as those libraries read it; any other secret is its UTF-8 bytes, whose
Standard Webhooks form is ``whsec_`` + base64 of the secret (``standard_secret``).

Alongside, until ``LEGACY_HEADER_UNTIL``, the older header in Stripe's scheme:
``Signpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
keyed with the secret's UTF-8 bytes. It is deprecated: receivers should move
to the Standard Webhooks headers before that date, after which it is no
longer sent. Signing the timestamp with the body lets a receiver refuse an old
message replayed by someone who captured it. A header may carry several ``v1``
values, one per secret, so a secret can be rotated without a gap.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from standardwebhooks.webhooks import Webhook as StandardWebhook

SIGNATURE_HEADER = "Signpost-Signature"
# The deprecation window of SIGNATURE_HEADER: sent beside the Standard Webhooks headers up to and including this
# day (six months from contract 2.7.0, December 2026), then dropped.
LEGACY_HEADER_UNTIL = date(2027, 6, 30)
STANDARD_PREFIX = "whsec_"
# Standard Webhooks asks for a key of 24 to 64 bytes.
_STANDARD_KEY_BYTES = range(24, 65)
DEFAULT_TOLERANCE = timedelta(seconds=300)
_MAX_HEADER_LENGTH = 2048
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")

RejectionCode = Literal["malformed", "mismatch", "stale", "future"]


class SignatureRejected(Exception):
    """A webhook that must not be trusted; ``reason`` says why in words, ``code`` for programs."""

    def __init__(self, code: RejectionCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(
    secret: bytes, body: bytes, at: datetime, *, also: Sequence[bytes] = ()
) -> str:
    """The ``Signpost-Signature`` value for ``body`` sent at ``at``; ``also`` adds signatures with further secrets."""
    timestamp = int(at.timestamp())
    parts = [
        f"t={timestamp}",
        *(f"v1={signature(s, timestamp, body)}" for s in (secret, *also)),
    ]
    return ",".join(parts)


def parse_header(header: str) -> SignatureHeader:
    """Read ``t=...,v1=...``; other schemes (``v0=``, future ones) are ignored, as Stripe's receivers do."""
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureRejected("malformed", "signature header is too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            raise SignatureRejected(
                "malformed", "signature header must look like t=<unix seconds>,v1=<hex>"
            )
        if key == "t":
            if timestamp is not None:
                raise SignatureRejected(
                    "malformed", "signature header has more than one timestamp"
                )
            if not _UNIX_SECONDS.fullmatch(value):
                raise SignatureRejected(
                    "malformed", "signature timestamp must be whole unix seconds"
                )
            timestamp = int(value)
        elif key == "v1":
            if not _HEX_SHA256.fullmatch(value):
                raise SignatureRejected(
                    "malformed",
                    "v1 signature must be 64 lowercase hexadecimal characters",
                )
            signatures.append(value)
    if timestamp is None:
        raise SignatureRejected("malformed", "signature header has no timestamp (t=)")
    if not signatures:
        raise SignatureRejected("malformed", "signature header has no v1 signature")
    return SignatureHeader(timestamp, tuple(signatures))


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Accept the delivery or raise ``SignatureRejected``: a bad header, a wrong signature, or a time too far from ``now``.

    The signature is checked before the time, so "stale" and "future" are only
    ever said of a message Signpost really signed.
    """
    parsed = parse_header(header)
    expected = signature(secret, parsed.timestamp, body)
    # compare_digest on every candidate: no early exit that a timing attacker could measure.
    matches = [
        hmac.compare_digest(expected, candidate) for candidate in parsed.signatures
    ]
    if not any(matches):
        raise SignatureRejected(
            "mismatch", "signature does not match the body and the shared secret"
        )
    age = now.timestamp() - parsed.timestamp
    allowed = tolerance.total_seconds()
    if age > allowed:
        raise SignatureRejected(
            "stale",
            f"signature is {age:.0f}s old, more than the {allowed:.0f}s allowed; refusing a replay",
        )
    if -age > allowed:
        raise SignatureRejected(
            "future",
            f"signature is {-age:.0f}s in the future, more than the {allowed:.0f}s clock skew allowed",
        )


def standard_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature: a ``whsec_`` secret decoded, any other as its bytes."""
    if secret.startswith(STANDARD_PREFIX):
        return base64.b64decode(secret.removeprefix(STANDARD_PREFIX), validate=True)
    return secret.encode()


def standard_secret(secret: str) -> str:
    """The secret as a Standard Webhooks library takes it (``whsec_<base64>``), whichever way it was registered."""
    return (
        secret
        if secret.startswith(STANDARD_PREFIX)
        else STANDARD_PREFIX + base64.b64encode(secret.encode()).decode()
    )


def secret_problem(secret: str) -> str | None:
    """Why a ``whsec_`` secret cannot be used (not base64, or a key too short or long), or None."""
    if not secret.startswith(STANDARD_PREFIX):
        return None
    try:
        key = standard_key(secret)
    except (binascii.Error, ValueError):
        return "a whsec_ secret must be whsec_ followed by standard base64"
    if len(key) not in _STANDARD_KEY_BYTES:
        return f"a whsec_ secret must decode to 24 to 64 bytes, not {len(key)}"
    return None


def signed_headers(
    secret: str, webhook_id: str, body: bytes, at: datetime
) -> dict[str, str]:
    """The signature headers of one delivery: Standard Webhooks', and the deprecated one within its window."""
    at = at.astimezone(UTC)  # the library reads the time as UTC
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": StandardWebhook(standard_key(secret)).sign(
            webhook_id, at, body.decode()
        ),
    }
    if at.date() <= LEGACY_HEADER_UNTIL:
        headers[SIGNATURE_HEADER] = sign(secret.encode(), body, at)
    return headers
