"""The JSON Schema and AsyncAPI files agencies read are current, deterministic and self-consistent."""

import json
import shutil
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from pydantic import ValidationError

from schemas import generate
from schemas.events import AgencyOutcome
from schemas.version import CONTRACT_VERSION, EVENTS
from schemas.vocabulary import OutcomeCode
from tests.unit.schemas.factories import baseline, mutated, sample_events

TOPICS = {
    "referral.submitted",
    "referral.routed",
    "referral.unroutable",
    "assignment.delivered",
    "assignment.outcome",
    "referral.escalated",
    "referral.cancelled",
    "signpost.deadletter",
    "signpost.access",
    "signpost.replays",
    "agency.{agencyId}.referrals",
    "agency.{agencyId}.outcomes",
    "practice.{odsCode}.feedback",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return generate.render()


@pytest.fixture(scope="module")
def asyncapi(rendered: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(rendered[generate.ASYNCAPI_FILE])
    return document


@pytest.fixture
def copy_of_schemas(tmp_path: Path) -> Path:
    shutil.copytree(generate.ROOT / generate.JSON_DIR, tmp_path / generate.JSON_DIR)
    shutil.copy(
        generate.ROOT / generate.ASYNCAPI_FILE, tmp_path / generate.ASYNCAPI_FILE
    )
    return tmp_path


def test_checked_in_artefacts_match_the_models(rendered: dict[str, str]) -> None:
    stale = generate.stale(wanted=rendered)
    assert not stale, (
        f"contract artefacts are stale, run `make schemas`: {', '.join(stale)}"
    )


def test_generation_is_deterministic(rendered: dict[str, str]) -> None:
    assert generate.render() == rendered


def test_there_is_one_json_schema_per_event_and_document(
    rendered: dict[str, str],
) -> None:
    expected = {f"json/{t}.v{c.version}.json" for t, c in EVENTS.items()} | {
        "json/referral.v1.json"
    }
    assert set(rendered) - {generate.ASYNCAPI_FILE} == expected
    assert all(
        text.endswith("}\n")
        for path, text in rendered.items()
        if path.endswith(".json")
    )


def test_check_names_changed_missing_and_left_over_files(copy_of_schemas: Path) -> None:
    (copy_of_schemas / "json" / "referral.v1.json").write_text("{}\n")
    (copy_of_schemas / "json" / "agency.outcome.v1.json").unlink()
    (copy_of_schemas / "json" / "referral.submitted.v0.json").write_text("{}\n")
    assert generate.stale(copy_of_schemas) == [
        "json/agency.outcome.v1.json",
        "json/referral.v1.json",
        "json/referral.submitted.v0.json",
    ]
    generate.write(copy_of_schemas)
    assert generate.stale(copy_of_schemas) == []


def test_the_command_exits_1_naming_stale_files(
    copy_of_schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate.main(["--check"], root=copy_of_schemas) == 0
    (copy_of_schemas / generate.ASYNCAPI_FILE).write_text("asyncapi: 2.0.0\n")
    assert generate.main(["--check"], root=copy_of_schemas) == 1
    assert (
        "stale contract artefacts (run `make schemas`):\n  schemas/asyncapi.yaml\n"
        in capsys.readouterr().err
    )
    assert generate.main([], root=copy_of_schemas) == 0
    assert generate.main(["--check"], root=copy_of_schemas) == 0


def test_the_asyncapi_document_describes_every_topic(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["version"] == CONTRACT_VERSION
    assert {c["address"] for c in asyncapi["channels"].values()} == TOPICS
    assert asyncapi["channels"]["agencyReferrals"]["parameters"].keys() == {"agencyId"}
    assert asyncapi["channels"]["practiceFeedback"]["parameters"].keys() == {"odsCode"}


def test_every_topic_has_a_sender_and_a_receiver(asyncapi: dict[str, Any]) -> None:
    actions: dict[str, set[str]] = {
        f"#/channels/{name}": set() for name in asyncapi["channels"]
    }
    for operation in asyncapi["operations"].values():
        actions[operation["channel"]["$ref"]].add(operation["action"])
    assert all(found == {"send", "receive"} for found in actions.values()), actions


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_every_reference_in_the_asyncapi_document_resolves(
    asyncapi: dict[str, Any],
) -> None:
    for ref in set(refs(asyncapi)):
        assert ref.startswith("#/"), ref
        node: Any = asyncapi
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        assert isinstance(node, dict), ref


def test_json_schemas_accept_what_the_models_accept_and_refuse_control_characters(
    rendered: dict[str, str],
) -> None:
    """Agencies that validate with the JSON Schema alone agree with the pydantic models on the rules a schema can state."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    referral_schema = jsonschema_rs.validator_for(
        json.loads(rendered["json/referral.v1.json"]), validate_formats=True
    )
    assert referral_schema.is_valid(baseline())
    assert not referral_schema.is_valid(mutated({"patient.given_name": "Ji\x07m"}))
    assert not referral_schema.is_valid(mutated({"consent_direct_care": False}))
    assert not referral_schema.is_valid(mutated({"patient.nhs_number": "943 476 5919"}))
    assert referral_schema.is_valid(mutated({"notes": "line one\nline two"}))
    for event in sample_events():
        event_type = event.model_dump()["type"]
        schema = json.loads(
            rendered[f"json/{event_type}.v{EVENTS[event_type].version}.json"]
        )
        assert jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(
            event.model_dump(mode="json")
        ), event_type


def test_the_outcome_schema_agrees_with_the_model_on_every_combination(
    rendered: dict[str, str],
) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = jsonschema_rs.validator_for(
        json.loads(rendered["json/agency.outcome.v1.json"]), validate_formats=True
    )
    for outcome, reason, completion in product(
        OutcomeCode, (None, "other"), (None, "advice_given")
    ):
        report = {
            "event_id": str(UUID(int=1)),
            "assignment_id": str(UUID(int=2)),
            "outcome": outcome.value,
            "occurred_at": "2026-01-15T09:30:00Z",
            **({"decline_reason": reason} if reason else {}),
            **({"completion": completion} if completion else {}),
        }
        try:
            AgencyOutcome.model_validate(report)
            model_accepts = True
        except ValidationError:
            model_accepts = False
        assert schema.is_valid(report) is model_accepts, report
