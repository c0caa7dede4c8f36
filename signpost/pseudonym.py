"""Pseudonymous patient keys: a keyed hash, never the identifier itself.

The key partitions Kafka topics (so one patient's events stay in order) and
links audit rows to a patient without the audit log holding an NHS number.
A keyed hash (HMAC) rather than a plain hash, because NHS numbers are few
enough to brute-force, and names with dates of birth fewer still.

A patient with neither an NHS number nor a local id is keyed by their
demographics, normalised so that the same details typed by two systems give
one key. Normalisation forgives only how a detail is written (case, spacing,
punctuation, accents), never what it says: a typo, a new surname, a move or
a transposed name or date is another key, a new patient rather than a merge.
"""

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Demographics:
    """What identifies a patient who came without an identifier."""

    given_name: str
    family_name: str
    birth_date: date
    postcode: str | None
    address: str | None


def patient_key(
    secret: bytes, *, nhs_number: str | None, local_id: str | None, organisation: str
) -> str:
    """Key by NHS number when known, else by the referring organisation's local id."""
    if nhs_number:
        material = f"nhs:{nhs_number}"
    elif local_id:
        material = f"local:{organisation}:{local_id}"
    else:
        raise ValueError("a patient needs an NHS number or a local id")
    return _keyed(secret, material)


def demographic_key(secret: bytes, patient: Demographics) -> str:
    """Key by name, date of birth and postcode (or, only without a postcode, the whole address)."""
    if patient.postcode and normalised_postcode(patient.postcode):
        place = f"postcode:{normalised_postcode(patient.postcode)}"
    elif patient.address and normalised_name(patient.address):
        place = f"address:{normalised_name(patient.address)}"
    else:
        raise ValueError(
            "a patient keyed by demographics needs a postcode or an address"
        )
    # The unit separator cannot occur in a normalised part, so no two patients' parts run together into one.
    parts = (
        "demographics:v1",
        normalised_name(patient.given_name),
        normalised_name(patient.family_name),
        patient.birth_date.isoformat(),
        place,
    )
    return _keyed(secret, "\x1f".join(parts))


def normalised_name(value: str) -> str:
    """Letters and digits only, accents dropped, case folded: "O'Brien-Ní  Bhriain" is "obriennibhriain"."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(
        ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch)
    ).casefold()


def normalised_postcode(value: str) -> str:
    """Upper case without spaces: " cr0  1aa " is "CR01AA"."""
    return "".join(value.split()).upper()


def _keyed(secret: bytes, material: str) -> str:
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()
