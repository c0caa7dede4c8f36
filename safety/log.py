"""The hazard log as data: each hazard of routing a referral, its controls, and the tests that prove them.

DCB0129 asks the manufacturer to keep a hazard log and to show that each control
works. Keeping it as a structured file next to the code lets the test suite hold
it true: a control that names a test which no longer exists, or is skipped, fails
the build (see ``tests/support/hazards.py``). The rendering in ``docs/safety/``
is generated from this file, never edited by hand.
"""

from enum import IntEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LOG_FILE = Path(__file__).with_name("hazard-log.yaml")


class Severity(IntEnum):
    MINOR = 1
    SIGNIFICANT = 2
    CONSIDERABLE = 3
    MAJOR = 4
    CATASTROPHIC = 5


class Likelihood(IntEnum):
    VERY_LOW = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    VERY_HIGH = 5


RISK_NAMES = {1: "very low", 2: "low", 3: "medium", 4: "high", 5: "very high"}

# The DCB0129 5x5 matrix as NHS England publishes it: rows are likelihood (very low .. very high),
# columns severity (minor .. catastrophic), cells the clinical risk rating 1 (very low) .. 5 (very high).
MATRIX: tuple[tuple[int, ...], ...] = (
    (1, 1, 2, 2, 3),
    (1, 2, 2, 3, 4),
    (2, 2, 3, 3, 4),
    (2, 3, 3, 4, 5),
    (3, 4, 4, 5, 5),
)


def risk(severity: Severity, likelihood: Likelihood) -> int:
    return MATRIX[likelihood - 1][severity - 1]


def acceptability(rating: int) -> str:
    """How DCB0129 practice treats a rating: 1-2 acceptable, 3 only if further reduction is impractical, 4-5 not."""
    if rating <= 2:
        return "acceptable"
    if rating == 3:
        return "undesirable: accepted only with the justification given"
    return "unacceptable"


class Assessment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity
    likelihood: Likelihood

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> object:
        return Severity[str(value).upper()] if isinstance(value, str) else value

    @field_validator("likelihood", mode="before")
    @classmethod
    def _likelihood(cls, value: object) -> object:
        return (
            Likelihood[str(value).upper().replace(" ", "_")]
            if isinstance(value, str)
            else value
        )

    @property
    def rating(self) -> int:
        return risk(self.severity, self.likelihood)

    def describe(self) -> str:
        return (
            f"{self.severity.name.lower()} x {self.likelihood.name.lower().replace('_', ' ')}"
            f" = {self.rating} ({RISK_NAMES[self.rating]})"
        )


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["design", "test", "training", "deployment"]
    text: str
    tests: tuple[str, ...] = ()
    """Test node ids (``path::function``) that prove this control; each must carry the hazard's marker."""


class Hazard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^HAZ-\d{3}$")
    title: str
    hazard: str
    causes: tuple[str, ...]
    effect: str
    """The effect on the patient if the hazard is realised."""
    initial: Assessment
    controls: tuple[Control, ...]
    residual: Assessment
    status: Literal["open", "closed", "transferred"]
    justification: str = ""
    """Why the residual risk is acceptable, or what still has to happen."""

    @model_validator(mode="after")
    def _consistent(self) -> "Hazard":
        if self.residual.rating > self.initial.rating:
            raise ValueError(
                f"{self.id}: the residual risk is higher than the initial risk"
            )
        if self.status == "closed" and not self.tests:
            raise ValueError(
                f"{self.id}: a closed hazard needs at least one control test"
            )
        if self.residual.rating >= 3 and not self.justification:
            raise ValueError(
                f"{self.id}: a residual risk of 3 or more needs its justification"
            )
        return self

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(t for c in self.controls for t in c.tests)


class HazardLog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    version: str
    hazards: tuple[Hazard, ...]

    @model_validator(mode="after")
    def _unique(self) -> "HazardLog":
        ids = [h.id for h in self.hazards]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"hazard ids used twice: {', '.join(duplicated)}")
        return self

    @cached_property
    def by_id(self) -> dict[str, Hazard]:
        return {h.id: h for h in self.hazards}

    def links(self) -> dict[str, set[str]]:
        """Test node id -> the hazards whose controls name it."""
        out: dict[str, set[str]] = {}
        for h in self.hazards:
            for test in h.tests:
                out.setdefault(test, set()).add(h.id)
        return out


def load(path: Path = LOG_FILE) -> HazardLog:
    return HazardLog.model_validate(yaml.safe_load(path.read_text()))
