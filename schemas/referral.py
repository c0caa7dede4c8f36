"""Referral content: who refers, which patient, what they need.

This is the internal referral that JSON and FHIR/BaRS submissions both map
onto. Field names are part of the public contract.

Each rule refuses with its own error type and a message that names the rule,
so the referrer can put it right (intake turns them into problem details).
Rules that depend on the date use ``schemas.clock.reference_date``.
"""

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from schemas.clock import reference_date
from schemas.contact import is_plausible_uk_phone, is_uk_postcode, looks_like_email
from schemas.eligibility import pharmacy_first_ineligibility
from schemas.nhs_number import is_valid_nhs_number
from schemas.text import MULTI_LINE, NOT_BLANK, SINGLE_LINE
from schemas.vocabulary import Need, RedFlag, ReferrerRole, Sex, Urgency

ODS_CODE_PATTERN = r"^[A-Z0-9]{3,9}$"
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
_TEN_DIGITS = re.compile(r"[0-9]{10}")


class Strict(BaseModel):
    """Base for contract models: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Referrer(Strict):
    ods_code: str = Field(
        pattern=ODS_CODE_PATTERN, description="ODS code of the referring organisation"
    )
    practitioner: Annotated[str, SINGLE_LINE, NOT_BLANK] = Field(
        min_length=1, max_length=200
    )
    role: ReferrerRole


class ContactPoint(Strict):
    system: str = Field(pattern=r"^(phone|email)$")
    value: str = Field(
        min_length=3,
        max_length=200,
        description="phone: a UK number, digits and spaces, 0... or +44...; email: name@domain",
    )
    rank: int = Field(ge=1, le=9)

    @model_validator(mode="after")
    def _value_fits_system(self) -> "ContactPoint":
        if self.system == "phone" and not is_plausible_uk_phone(self.value):
            raise PydanticCustomError(
                "phone_format",
                "phone must be a UK number: 0 then 9 or 10 more digits, or +44 then 9 or 10 digits (only digits and spaces)",
            )
        if self.system == "email" and not looks_like_email(self.value):
            raise PydanticCustomError(
                "email_format",
                "email must look like an email address, e.g. name@example.org",
            )
        return self


class Patient(Strict):
    nhs_number: str | None = Field(
        default=None,
        description="10 digits, modulus 11 checked",
        json_schema_extra={"pattern": "^[0-9]{10}$"},
    )
    nhs_number_traced: bool = Field(
        default=True,
        strict=True,
        description="false when the sender has not traced the NHS number (UK Core verification status other than 01): "
        "it is carried, but the patient is matched as if it were absent",
    )
    local_id: (
        Annotated[str, Field(min_length=1, max_length=64), SINGLE_LINE, NOT_BLANK]
        | None
    ) = Field(default=None, description="for patients without an NHS number")
    given_name: Annotated[str, SINGLE_LINE, NOT_BLANK] = Field(
        min_length=1, max_length=100
    )
    family_name: Annotated[str, SINGLE_LINE, NOT_BLANK] = Field(
        min_length=1, max_length=100
    )
    birth_date: date = Field(description="not in the future, not before 1900")
    sex: Sex
    postcode: str | None = Field(
        default=None,
        min_length=5,
        max_length=8,
        description="UK postcode, either case, one optional space",
    )
    address: (
        Annotated[str, Field(min_length=1, max_length=300), SINGLE_LINE, NOT_BLANK]
        | None
    ) = Field(
        default=None,
        description="the home address on one line; needed only when there is no postcode",
    )
    gp_practice_ods: str = Field(pattern=ODS_CODE_PATTERN)
    contacts: tuple[ContactPoint, ...] = Field(
        min_length=1, description="exactly one phone with rank 1"
    )

    @field_validator("nhs_number")
    @classmethod
    def _nhs_number_is_checked(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _TEN_DIGITS.fullmatch(value):
            raise PydanticCustomError(
                "nhs_number_format",
                "NHS number must be exactly 10 digits, without spaces",
            )
        if not is_valid_nhs_number(value):
            raise PydanticCustomError(
                "nhs_number_check_digit", "NHS number fails the modulus 11 check"
            )
        return value

    @field_validator("birth_date")
    @classmethod
    def _born_plausibly(cls, value: date) -> date:
        if value > reference_date():
            raise PydanticCustomError(
                "birth_date_in_future", "birth date cannot be in the future"
            )
        if value < EARLIEST_BIRTH_DATE:
            raise PydanticCustomError(
                "birth_date_before_1900", "birth date cannot be before 1900"
            )
        return value

    @field_validator("postcode")
    @classmethod
    def _uk_postcode(cls, value: str | None) -> str | None:
        if value is not None and not is_uk_postcode(value):
            raise PydanticCustomError(
                "postcode_format", "postcode must be a UK postcode, e.g. CR0 1AA"
            )
        return value

    @field_validator("contacts")
    @classmethod
    def _one_main_phone(
        cls, value: tuple[ContactPoint, ...]
    ) -> tuple[ContactPoint, ...]:
        # BaRS: the receiver must be able to ring the patient, on one unambiguous number first.
        if sum(1 for c in value if c.system == "phone" and c.rank == 1) != 1:
            raise PydanticCustomError(
                "rank_one_phone", "contacts must include exactly one phone with rank 1"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _identified(cls, data: Any) -> Any:
        """BaRS receivers must take patients without an NHS number; they are matched by their demographics instead.

        Checked before the fields, so a referral that could not be matched hears at once what it lacks
        for that, rather than one "Field required" at a time.
        """
        if not isinstance(data, dict) or data.get("nhs_number") is not None:
            return data
        if "nhs_number_traced" in data:
            raise PydanticCustomError(
                "nhs_number_traced_without_number",
                "nhs_number_traced says whether the nhs_number was traced; leave it out without an NHS number",
            )
        if data.get("local_id") is not None:
            return data
        missing = [
            f
            for f in ("given_name", "family_name", "birth_date")
            if data.get(f) in (None, "")
        ]
        if data.get("postcode") in (None, "") and data.get("address") in (None, ""):
            missing.append("postcode or address")
        if missing:
            raise PydanticCustomError(
                "patient_demographics_required",
                "a patient without an NHS number or local_id is matched by name, date of birth and postcode or address"
                " (missing: {missing})",
                {"missing": ", ".join(missing)},
            )
        return data

    @model_validator(mode="after")
    def _locatable(self) -> "Patient":
        if self.postcode is None and self.address is None:
            raise PydanticCustomError(
                "patient_address_required", "a patient needs a postcode or an address"
            )
        if (
            self.untraced
            and self.local_id is None
            and not all(_has_alnum(n) for n in (self.given_name, self.family_name))
        ):
            raise PydanticCustomError(
                "patient_name_unmatchable",
                "a patient matched by demographics needs a letter or digit in each name",
            )
        return self

    @property
    def untraced(self) -> bool:
        """No traced NHS number: the patient is matched by local id or demographics, and may be linked later."""
        return self.nhs_number is None or not self.nhs_number_traced


def _has_alnum(value: str) -> bool:
    return any(ch.isalnum() for ch in value)


def _refuse_repeats(values: Iterable[str], rule: str, field: str) -> None:
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    if repeated:
        raise PydanticCustomError(
            rule,
            f"{field} must not repeat a code ({', '.join(repeated)} given more than once)",
        )


class Referral(Strict):
    referrer: Referrer
    patient: Patient
    needs: tuple[Need, ...] = Field(min_length=1, description="no repeats")
    red_flags: tuple[RedFlag, ...] = Field(default=(), description="no repeats")
    urgency: Urgency = Urgency.ROUTINE
    chosen_pharmacy_ods: str | None = Field(default=None, pattern=ODS_CODE_PATTERN)
    consent_direct_care: bool = Field(
        strict=True,
        description="must be true (JSON true, not a string)",
        json_schema_extra={"const": True},
    )
    notes: Annotated[str, Field(max_length=4000), MULTI_LINE] | None = None

    @field_validator("needs")
    @classmethod
    def _needs_once(cls, value: tuple[Need, ...]) -> tuple[Need, ...]:
        _refuse_repeats((n.value for n in value), "duplicate_need", "needs")
        return value

    @field_validator("red_flags")
    @classmethod
    def _red_flags_once(cls, value: tuple[RedFlag, ...]) -> tuple[RedFlag, ...]:
        _refuse_repeats((f.value for f in value), "duplicate_red_flag", "red_flags")
        return value

    @field_validator("consent_direct_care")
    @classmethod
    def _consented(cls, value: bool) -> bool:
        if value is not True:
            raise PydanticCustomError(
                "consent_required", "consent for direct care is required"
            )
        return value

    @model_validator(mode="after")
    def _pharmacy_first_eligible(self) -> "Referral":
        problems = pharmacy_first_ineligibility(self, reference_date())
        if problems:
            raise PydanticCustomError("pharmacy_first_ineligible", "; ".join(problems))
        return self
