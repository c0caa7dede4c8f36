"""Pseudonymous patient keys: a keyed hash, never the identifier itself.

The key partitions Kafka topics (so one patient's events stay in order) and
links audit rows to a patient without the audit log holding an NHS number.
A keyed hash (HMAC) rather than a plain hash, because NHS numbers are few
enough to brute-force.
"""

import hashlib
import hmac


def patient_key(secret: bytes, *, nhs_number: str | None, local_id: str | None, organisation: str) -> str:
    """Key by NHS number when known, else by the referring organisation's local id."""
    if nhs_number:
        material = f"nhs:{nhs_number}"
    elif local_id:
        material = f"local:{organisation}:{local_id}"
    else:
        raise ValueError("a patient needs an NHS number or a local id")
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()
