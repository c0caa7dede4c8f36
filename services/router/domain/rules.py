"""Routing rules as data: validated YAML, versioned by content hash.

A rule's ``when`` matches if ANY of its conditions holds (a need, a red flag,
or, for ``also`` rules, how many agencies the referral already reaches).

A rule's ``reason`` is a template: the decision fills in ``{needs}``,
``{flags}`` and ``{why}``, and the area of the referral's network its own
words (``{network}``, ``{huddle}``, ``{coordinator}``; see
``signpost.terminology``), so one rule set reads right in every area. Any
other placeholder is refused when the file loads, not when a referral needs it.
"""

import json
from collections import Counter
from functools import cached_property
from hashlib import sha256
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.vocabulary import Need, RedFlag, ServiceType
from signpost.terminology import check_template

REASON_FILLS = frozenset({"needs", "flags", "why"})
"""What the decision fills into a rule's reason, besides the area's words."""


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(Frozen):
    any_needs: frozenset[Need] = frozenset()
    any_red_flags: frozenset[RedFlag] = frozenset()
    min_agencies: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _something(self) -> "When":
        if not (self.any_needs or self.any_red_flags or self.min_agencies):
            raise ValueError("a rule's 'when' needs at least one condition")
        return self


class Rule(Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str
    when: When
    assign: ServiceType
    strategy: Literal["network_service", "chosen_pharmacy"] = "network_service"
    also: bool = False
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _reason_fills(self) -> "Rule":
        check_template(self.reason, REASON_FILLS, f"rule {self.id}: reason")
        return self


class RuleSet(Frozen):
    max_declines: int = Field(default=2, ge=1)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "RuleSet":
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError(
                f"duplicate rule ids: {sorted(i for i, n in Counter(ids).items() if n > 1)}"
            )
        return self

    @cached_property
    def version(self) -> str:
        """Content hash; computed once per loaded rule set (routing asks for it on every decision)."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, default=sorted
        )
        return sha256(canonical.encode()).hexdigest()[:12]


def load(path: Path) -> RuleSet:
    return RuleSet.model_validate(yaml.safe_load(path.read_text()))
