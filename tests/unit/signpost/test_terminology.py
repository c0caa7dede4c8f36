"""Area files: each area's words where its networks are, the defaults elsewhere, and a broken file refused at load."""

from pathlib import Path

import pytest
import yaml

from schemas.vocabulary import ServiceType
from services.router.domain import directory as directory_module
from signpost import terminology
from signpost.terminology import DEFAULT, Terminology, TerminologyError

ROOT = Path(__file__).parents[3]
AREAS = ROOT / "deploy" / "areas"
SHIPPED = terminology.load(AREAS)
WORDS = {
    "network": "hub",
    "huddle": "virtual ward",
    "coordinator": "health and social care coordinator",
}


def area_file(tmp_path: Path, name: str = "dorset", **content: object) -> Path:
    body = {"area": name, "networks": [f"{name}-hub"], "words": WORDS, **content}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_each_network_reads_its_own_areas_words_and_an_unclaimed_one_the_default() -> (
    None
):
    croydon, dorset = (
        SHIPPED.for_network("croydon-north"),
        SHIPPED.for_network("dorset-purbeck-hub"),
    )
    assert (croydon.words.network, croydon.words.huddle, croydon.words.coordinator) == (
        "network",
        "MDT huddle",
        "network facilitator",
    )
    assert (dorset.words.network, dorset.words.huddle, dorset.words.coordinator) == (
        "hub",
        "virtual ward",
        "health and social care coordinator",
    )
    assert SHIPPED.for_network("somewhere-else") is DEFAULT
    assert SHIPPED.for_network(None) is DEFAULT
    assert DEFAULT.label(ServiceType.CARE_COORDINATOR) == "care coordinator"


def test_labels_follow_the_areas_words() -> None:
    dorset = SHIPPED.for_network("dorset-purbeck-hub")
    assert dorset.label(ServiceType.MDT_HUDDLE) == "virtual ward"
    assert (
        dorset.label(ServiceType.CARE_COORDINATOR)
        == "health and social care coordinator"
    )
    assert (
        SHIPPED.for_network("croydon-west").label(ServiceType.CARE_COORDINATOR)
        == "network facilitator"
    )
    assert dorset.label(ServiceType.COMMUNITY_PHARMACY) == "community pharmacy", (
        "a label no area changes stays"
    )


@pytest.mark.hazard("HAZ-004")
def test_every_network_of_the_seed_directories_is_claimed_by_the_area_its_seed_names() -> (
    None
):
    """A network renamed in the directory but not in its area file would quietly fall back to the default words."""
    for seed in sorted((ROOT / "services" / "router" / "directory").glob("*.yaml")):
        area = directory_module.load(seed)
        assert SHIPPED.networks_of(area.area) == {
            n.network_id for n in area.networks
        }, seed.name


@pytest.mark.parametrize(
    ("seed", "foreign"),
    [("croydon.yaml", ("hub", "virtual ward")), ("dorset.yaml", ("huddle", "network"))],
)
def test_the_seed_services_are_named_in_their_own_areas_words(
    seed: str, foreign: tuple[str, ...]
) -> None:
    """A name is read in every message about the service: Croydon's coordinator is no 'Hub coordinator'."""
    names = [
        s.name.lower()
        for s in directory_module.load(
            ROOT / "services" / "router" / "directory" / seed
        ).services
    ]
    assert [n for n in names if any(word in n for word in foreign)] == []


def test_a_new_area_is_a_file_and_may_word_any_text_its_own_way(tmp_path: Path) -> None:
    area_file(
        tmp_path,
        "wessex",
        words={
            "network": "place",
            "huddle": "case review",
            "coordinator": "link worker",
        },
        texts={"feedback_accepted": "{who} has taken the referral on."},
    )
    wessex = terminology.load(tmp_path).for_network("wessex-hub")
    assert wessex.text("feedback_accepted", who="X") == "X has taken the referral on."
    assert wessex.text("report_by_network") == "Assignments by place", (
        "texts it does not give are the defaults, in its words"
    )


def test_an_unknown_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    path = area_file(tmp_path, wrods={"huddle": "virtual ward"})
    with pytest.raises(TerminologyError) as refused:
        terminology.load(tmp_path)
    assert str(refused.value) == f"{path}: wrods: Extra inputs are not permitted"


def test_an_unknown_text_or_word_is_refused(tmp_path: Path) -> None:
    area_file(
        tmp_path,
        texts={"feedback_acepted": "{who} took it."},
        labels={"virtual_ward": "virtual ward"},
    )
    with pytest.raises(TerminologyError) as refused:
        terminology.load(tmp_path)
    assert "texts.feedback_acepted: Extra inputs are not permitted" in str(
        refused.value
    )
    assert "labels.virtual_ward.[key]: Input should be 'icn_pharmacist'" in str(
        refused.value
    )


def test_a_placeholder_the_text_is_not_given_is_refused_with_the_ones_it_is(
    tmp_path: Path,
) -> None:
    path = area_file(
        tmp_path,
        texts={"feedback_accepted": "{whom} accepted the referral in the {hub}."},
    )
    with pytest.raises(TerminologyError) as refused:
        terminology.load(tmp_path)
    assert str(refused.value) == (
        f"{path}: texts: texts.feedback_accepted: unknown placeholder {{hub}}, {{whom}}"
        " (known: {coordinator}, {huddle}, {network}, {who})"
    )


def test_a_label_may_use_only_the_words(tmp_path: Path) -> None:
    area_file(tmp_path, labels={"mdt_huddle": "{huddle} at {place}"})
    with pytest.raises(
        TerminologyError, match=r"labels.mdt_huddle: unknown placeholder \{place\}"
    ):
        terminology.load(tmp_path)


@pytest.mark.parametrize(
    "template", ["{who", "{who!r} took it", "{who:>10}", "{words.network}", "{0}"]
)
def test_a_malformed_placeholder_is_refused(tmp_path: Path, template: str) -> None:
    area_file(tmp_path, texts={"feedback_accepted": template})
    with pytest.raises(TerminologyError, match="feedback_accepted"):
        terminology.load(tmp_path)


def test_a_missing_word_is_refused(tmp_path: Path) -> None:
    path = area_file(tmp_path, words={"network": "hub", "huddle": "virtual ward"})
    with pytest.raises(TerminologyError) as refused:
        terminology.load(tmp_path)
    assert str(refused.value) == f"{path}: words.coordinator: Field required"


@pytest.mark.hazard("HAZ-004")
def test_a_network_claimed_by_two_areas_is_refused(tmp_path: Path) -> None:
    area_file(tmp_path, "dorset")
    area_file(tmp_path, "wessex", networks=["dorset-hub"])
    with pytest.raises(
        TerminologyError,
        match="network dorset-hub is claimed by both dorset and wessex",
    ):
        terminology.load(tmp_path)


def test_every_broken_file_is_named_at_once_and_a_missing_folder_is_refused(
    tmp_path: Path,
) -> None:
    area_file(tmp_path, "dorset", words={})
    (tmp_path / "wessex.yaml").write_text("area: [unclosed")
    with pytest.raises(TerminologyError) as refused:
        terminology.load(tmp_path)
    assert "dorset.yaml: words.network: Field required" in str(refused.value)
    assert "wessex.yaml: not YAML" in str(refused.value)
    with pytest.raises(TerminologyError, match="no such area file or folder"):
        terminology.load(tmp_path / "nowhere")


def test_no_area_files_means_the_default_words_everywhere() -> None:
    assert Terminology().for_network("croydon-north") is DEFAULT
