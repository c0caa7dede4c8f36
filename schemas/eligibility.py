"""Who a community pharmacy may see under Pharmacy First.

The clinical pathways have fixed age (and, for UTI, sex) limits, and GP
practices may not refer for urgent medicines supply. A referral outside them
would be turned away at the pharmacy counter, so the contract refuses it at
the point of referral, where the receptionist can still send it elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from schemas.vocabulary import Need, ReferrerRole, Sex

if TYPE_CHECKING:
    from schemas.referral import Referral

GP_PRACTICE_ROLES = frozenset({ReferrerRole.GP, ReferrerRole.GP_RECEPTIONIST})


@dataclass(frozen=True)
class PathwayEligibility:
    """Ages are whole years on the day, both ends inclusive."""

    label: str
    min_age: int | None = None
    max_age: int | None = None
    sexes: frozenset[Sex] | None = None
    gp_practices_may_refer: bool = True

    def who(self) -> str:
        people = "women" if self.sexes == frozenset({Sex.FEMALE}) else "patients"
        if self.min_age is not None and self.max_age is not None:
            return f"{people} aged {self.min_age} to {self.max_age}"
        if self.min_age is not None:
            return f"{people} aged {self.min_age} or over"
        if self.max_age is not None:
            return f"{people} aged {self.max_age} or under"
        return people


PHARMACY_FIRST_ELIGIBILITY: Mapping[Need, PathwayEligibility] = {
    Need.UTI: PathwayEligibility("uncomplicated UTI", 16, 64, frozenset({Sex.FEMALE})),
    Need.IMPETIGO: PathwayEligibility("impetigo", 1),
    Need.INFECTED_INSECT_BITE: PathwayEligibility("infected insect bites", 1),
    Need.SHINGLES: PathwayEligibility("shingles", 18),
    Need.SINUSITIS: PathwayEligibility("sinusitis", 12),
    Need.SORE_THROAT: PathwayEligibility("sore throat", 5),
    Need.ACUTE_OTITIS_MEDIA: PathwayEligibility("acute otitis media", 1, 17),
    Need.URGENT_MEDICINES_SUPPLY: PathwayEligibility(
        "urgent medicines supply", gp_practices_may_refer=False
    ),
}


def age_on(birth_date: date, today: date) -> int:
    """Completed years; someone born on 29 February comes of age on 1 March in other years, as English law has it."""
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )


def pharmacy_first_ineligibility(referral: Referral, today: date) -> list[str]:
    """Why each Pharmacy First need in the referral cannot be met for this patient and referrer; empty when all can."""
    patient = referral.patient
    age = age_on(patient.birth_date, today)
    problems = []
    for need in referral.needs:
        rule = PHARMACY_FIRST_ELIGIBILITY.get(need)
        if rule is None:
            continue
        if (
            not rule.gp_practices_may_refer
            and referral.referrer.role in GP_PRACTICE_ROLES
        ):
            problems.append(
                f"Pharmacy First: GP practices cannot refer for {rule.label}"
            )
        reasons = []
        if rule.sexes is not None and patient.sex not in rule.sexes:
            reasons.append(f"the patient's recorded sex is {patient.sex.value}")
        if (rule.min_age is not None and age < rule.min_age) or (
            rule.max_age is not None and age > rule.max_age
        ):
            reasons.append(f"the patient is {age}")
        if reasons:
            problems.append(
                f"Pharmacy First: {rule.label} is for {rule.who()}; {' and '.join(reasons)}"
            )
    return problems
