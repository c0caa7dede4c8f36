"""Which pseudonymous key a referral travels under, and when an untraced patient is linked to a traced one.

Kafka keeps order per key, so one patient must travel under one key. A
patient first referred without a traced NHS number is keyed by their
demographics (``signpost.pseudonym``). When a referral with a traced NHS
number and the same normalised demographics arrives, it claims those
demographics for its key: from then on every referral of that patient,
traced or not, travels under the traced key and names the demographic key
it stands for, which is how audit joins the trails. Demographics that two
traced NHS numbers claim link nobody (``Link.conflicting``): a wrong link
would merge two patients' records (HAZ-022).

Pure: the link table is read and written by ``store.patient_links``.
"""

from dataclasses import dataclass

from schemas.referral import Referral
from signpost.pseudonym import (
    Demographics,
    demographic_key,
    normalised_name,
    patient_key,
)


@dataclass(frozen=True)
class Identity:
    """The keys a referral's patient has: its own, and its demographics' when they can take part in a link."""

    own_key: str
    demographic_key: str | None
    traced: bool


@dataclass(frozen=True)
class Link:
    """What the link table holds for one demographic key: the traced key that claimed it, and whether another did too."""

    patient_key: str
    conflicting: bool


@dataclass(frozen=True)
class Travel:
    """The key a referral's events travel under, and the earlier keys of the patient it stands for."""

    patient_key: str
    linked_patient_keys: tuple[str, ...]


def identify(secret: bytes, referral: Referral) -> Identity:
    patient = referral.patient
    demographics = _demographics_key(secret, referral)
    if patient.nhs_number and patient.nhs_number_traced:
        return Identity(
            patient_key(
                secret, nhs_number=patient.nhs_number, local_id=None, organisation=""
            ),
            demographics,
            True,
        )
    if patient.local_id:
        # A local id keys as it always has; it is the sender's own identifier, not evidence for a link.
        own = patient_key(
            secret,
            nhs_number=None,
            local_id=patient.local_id,
            organisation=referral.referrer.ods_code,
        )
        return Identity(own, None, traced=False)
    if (
        demographics is None
    ):  # the contract refuses such a patient; never key two of them alike
        raise ValueError(
            "an untraced patient without a local id needs names to match on"
        )
    return Identity(demographics, demographics, traced=False)


def travel(identity: Identity, link: Link | None) -> Travel:
    """The key to send under, given the link table's row for the patient's demographics (after any claim)."""
    demographics = identity.demographic_key
    if demographics is None or link is None or link.conflicting:
        return Travel(identity.own_key, ())
    if identity.traced:
        # Only the traced key that holds the link speaks for it; demographics another number holds are left alone.
        return Travel(
            identity.own_key,
            (demographics,) if link.patient_key == identity.own_key else (),
        )
    return Travel(link.patient_key, (demographics,))


def _demographics_key(secret: bytes, referral: Referral) -> str | None:
    patient = referral.patient
    if not (
        normalised_name(patient.given_name) and normalised_name(patient.family_name)
    ):
        return None
    found = Demographics(
        patient.given_name,
        patient.family_name,
        patient.birth_date,
        patient.postcode,
        patient.address,
    )
    return demographic_key(secret, found)
