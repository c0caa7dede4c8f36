"""The hazard log is sound, its rendering current, and the risk matrix DCB0129's."""

import pytest

from safety import render
from safety.log import Assessment, Hazard, HazardLog, Likelihood, Severity, load, risk


def test_the_shipped_log_loads_and_every_hazard_has_control_tests() -> None:
    log = load()
    assert len(log.hazards) >= 20
    assert all(h.tests for h in log.hazards), [h.id for h in log.hazards if not h.tests]


def test_the_rendering_in_docs_is_current() -> None:
    assert render.main(["--check"]) == 0, (
        "docs/safety/hazard-log.md is stale: run `make safety`"
    )


def test_the_matrix_rates_the_corners_and_the_middle_as_dcb0129_does() -> None:
    assert risk(Severity.MINOR, Likelihood.VERY_LOW) == 1
    assert risk(Severity.CATASTROPHIC, Likelihood.VERY_HIGH) == 5
    assert risk(Severity.CONSIDERABLE, Likelihood.MEDIUM) == 3
    assert risk(Severity.CATASTROPHIC, Likelihood.VERY_LOW) == 3
    assert risk(Severity.MINOR, Likelihood.VERY_HIGH) == 3


def hazard(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "HAZ-900",
        "title": "t",
        "hazard": "h",
        "causes": ["c"],
        "effect": "e",
        "initial": {"severity": "major", "likelihood": "medium"},
        "controls": [
            {"kind": "design", "text": "x", "tests": ["tests/unit/x.py::test_x"]}
        ],
        "residual": {"severity": "major", "likelihood": "very low"},
        "status": "closed",
    }
    return {**base, **changes}


def test_a_residual_risk_above_the_initial_one_is_refused() -> None:
    with pytest.raises(ValueError, match="residual risk is higher"):
        Hazard.model_validate(
            hazard(residual={"severity": "catastrophic", "likelihood": "high"})
        )


def test_a_closed_hazard_without_a_control_test_is_refused() -> None:
    with pytest.raises(ValueError, match="needs at least one control test"):
        Hazard.model_validate(hazard(controls=[{"kind": "design", "text": "x"}]))


def test_a_residual_of_three_needs_its_justification() -> None:
    with pytest.raises(ValueError, match="needs its justification"):
        Hazard.model_validate(
            hazard(residual={"severity": "major", "likelihood": "low"})
        )


def test_a_hazard_id_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="used twice: HAZ-900"):
        HazardLog.model_validate(
            {"system": "s", "version": "1", "hazards": [hazard(), hazard()]}
        )


def test_assessments_read_as_words() -> None:
    assert Assessment.model_validate(
        {"severity": "considerable", "likelihood": "very high"}
    ).describe() == ("considerable x very high = 4 (high)")
