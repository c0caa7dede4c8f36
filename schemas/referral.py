"""Referral content: who refers, which patient, what they need.

This is the internal referral that JSON and FHIR/BaRS submissions both map
onto. Field names are part of the public contract.
"""

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from schemas.vocabulary import Need, RedFlag, ReferrerRole, Sex, Urgency

ODS_CODE_PATTERN = r"^[A-Z0-9]{3,9}$"


class Strict(BaseModel):
    """Base for contract models: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Referrer(Strict):
    ods_code: str = Field(pattern=ODS_CODE_PATTERN, description="ODS code of the referring organisation")
    practitioner: str = Field(min_length=1, max_length=200)
    role: ReferrerRole


class ContactPoint(Strict):
    system: str = Field(pattern=r"^(phone|email)$")
    value: str = Field(min_length=3, max_length=200)
    rank: int = Field(ge=1, le=9)


class Patient(Strict):
    nhs_number: str | None = Field(default=None, description="10 digits, modulus 11 checked")
    local_id: str | None = Field(default=None, max_length=64, description="for patients without an NHS number")
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    sex: Sex
    postcode: str = Field(min_length=5, max_length=8)
    gp_practice_ods: str = Field(pattern=ODS_CODE_PATTERN)
    contacts: tuple[ContactPoint, ...] = Field(min_length=1)


class Referral(Strict):
    referrer: Referrer
    patient: Patient
    needs: tuple[Need, ...] = Field(min_length=1)
    red_flags: tuple[RedFlag, ...] = ()
    urgency: Urgency = Urgency.ROUTINE
    chosen_pharmacy_ods: str | None = Field(default=None, pattern=ODS_CODE_PATTERN)
    consent_direct_care: bool
    notes: str | None = Field(default=None, max_length=4000)
