"""Who may refer is one rule, and every organisation it admits hears back on a feedback topic."""

import os
from pathlib import Path

import pytest
import yaml

from deploy.kafka.acls import Operation, PatternType, ResourceType, acl_bindings
from signpost.clients import (
    REFERRING_ROLES,
    Principal,
    _registry,
    may_refer,
    referring_organisations,
)
from toolbox.tokens import DEV_DIR


def test_referrers_and_agencies_may_refer_operations_may_not() -> None:
    assert may_refer("referrer")
    assert may_refer("agency")
    assert not may_refer("operations")
    assert frozenset({"referrer", "agency"}) == REFERRING_ROLES


def test_an_agency_client_that_may_refer_is_among_the_organisations_that_hear_back() -> (
    None
):
    clients = _registry(str(DEV_DIR / "clients.yaml"))
    organisations = referring_organisations(clients)
    assert (
        "LBCRO" in organisations
    )  # social services: an agency client, and it may submit
    assert {"H81001", "RJ6", "FA001"} <= organisations
    assert "QWU" not in organisations  # operations reads referrals; it never makes them


def test_a_client_added_to_the_file_refers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text((DEV_DIR / "clients.yaml").read_text())
    assert "Y02001" not in referring_organisations(_registry(str(path)))
    clients = yaml.safe_load(path.read_text())["clients"]
    new = {**clients[0], "client_id": "gp-y02001", "organisation": "Y02001"}
    path.write_text(yaml.safe_dump({"clients": [*clients, new]}))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert "Y02001" in referring_organisations(_registry(str(path)))


def test_intake_refuses_exactly_the_roles_that_may_not_refer() -> None:
    from schemas.referral import Referral
    from services.intake.domain.access import may_submit

    referral = Referral.model_validate_json(
        (
            Path(__file__).parents[2] / "support/data/pharmacy_first_referral.json"
        ).read_text()
    )
    ods = referral.referrer.ods_code
    for role in ("referrer", "agency", "operations"):
        refused = may_submit(Principal("c", ods, role), referral)  # type: ignore[arg-type]
        assert (refused is None) == may_refer(role)  # type: ignore[arg-type]


def test_the_notifier_may_create_feedback_topics_and_no_other() -> None:
    creates = [b for b in acl_bindings(["alpha"]) if b.operation is Operation.CREATE]
    assert [
        (b.principal, b.resource_type, b.resource_name, b.pattern_type) for b in creates
    ] == [
        ("User:service-notifier", ResourceType.TOPIC, "practice.", PatternType.PREFIXED)
    ]


def test_a_file_that_changes_while_it_is_read_is_not_kept_as_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit caught half-way (a writer that truncates, then writes) must not stand until the next change."""
    from signpost import clients as registry

    path = tmp_path / "clients.yaml"
    path.write_text((DEV_DIR / "clients.yaml").read_text())
    before = _registry(str(path))
    clients = yaml.safe_load(path.read_text())["clients"]
    real_load = registry.load_clients

    def load_while_the_writer_goes_on(p: Path) -> dict[str, registry.Client]:
        half = {
            c.client_id: c for c in real_load(p).values() if c.client_id != "operations"
        }
        path.write_text(
            yaml.safe_dump(
                {
                    "clients": [
                        *clients,
                        {
                            **clients[0],
                            "client_id": "gp-y02345",
                            "organisation": "Y02345",
                        },
                    ]
                }
            )
        )
        return half

    monkeypatch.setattr(registry, "load_clients", load_while_the_writer_goes_on)
    path.write_text(yaml.safe_dump({"clients": clients[:-1]}))  # the writer starts
    assert _registry(str(path)) == before, "the half-read file is not taken"
    monkeypatch.setattr(registry, "load_clients", real_load)
    settled = _registry(str(path))
    assert {"operations", "gp-y02345"} <= set(settled), (
        "the finished file is read at the next request"
    )
