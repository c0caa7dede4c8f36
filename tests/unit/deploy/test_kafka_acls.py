"""The ACL policy and the secured broker's settings, read as data without a broker."""

import ssl
from pathlib import Path

import pytest

from deploy import tls
from deploy.kafka.acl_admin import as_lines
from deploy.kafka.acls import (
    SERVICES,
    AclBinding,
    Operation,
    PatternType,
    ResourceType,
    acl_bindings,
)
from deploy.kafka.local import server_properties
from deploy.kafka.security import (
    Credential,
    Principals,
    scram_format_args,
    secured_node,
)
from signpost.kafka_security import security_kwargs
from signpost.topics import CORE_TOPICS, agency_topics

AGENCIES = ["alpha", "beta"]
POLICY = acl_bindings(AGENCIES)
T, G = ResourceType.TOPIC, ResourceType.GROUP
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
R, W, D = Operation.READ, Operation.WRITE, Operation.DESCRIBE


def grants(user: str) -> set[tuple[ResourceType, str, PatternType, Operation]]:
    return {
        (b.resource_type, b.resource_name, b.pattern_type, b.operation)
        for b in POLICY
        if b.principal == f"User:{user}"
    }


def test_an_agency_gets_exactly_its_own_topics_and_group_prefix() -> None:
    assert grants("agency-alpha") == {
        (T, "agency.alpha.referrals", LIT, R),
        (T, "agency.alpha.referrals", LIT, D),
        (T, "agency.alpha.outcomes", LIT, W),
        (T, "agency.alpha.outcomes", LIT, D),
        (G, "agency.alpha.", PRE, R),
    }


def test_agency_topic_names_match_the_topics_signpost_creates() -> None:
    literal_topics = {
        b.resource_name
        for b in POLICY
        if b.resource_type is T and b.pattern_type is LIT
    }
    assert literal_topics <= set(CORE_TOPICS) | set(agency_topics(AGENCIES))


def test_prefixes_are_namespaces_not_open_ended_strings() -> None:
    # "agency.alpha" without the dot would also cover "agency.alphabet.referrals".
    assert all(
        b.resource_name.endswith((".", "-")) for b in POLICY if b.pattern_type is PRE
    )


def test_every_service_has_its_own_principal_and_consumer_group() -> None:
    for service in SERVICES:
        assert (G, f"signpost-{service}", LIT, R) in grants(f"service-{service}")


def test_router_reads_submitted_and_writes_referral_topics_only() -> None:
    assert grants("service-router") >= {
        (T, "referral.submitted", LIT, R),
        (T, "referral.", PRE, W),
    }
    assert not any(
        name.startswith("agency.") for _, name, _, _ in grants("service-router")
    )


def test_notifier_reaches_each_agency_by_name_not_by_prefix() -> None:
    notifier = grants("service-notifier")
    for agency in AGENCIES:
        assert {
            (T, f"agency.{agency}.referrals", LIT, W),
            (T, f"agency.{agency}.outcomes", LIT, R),
        } <= notifier
    assert (T, "agency.alpha.referrals", LIT, R) not in notifier
    assert not any(
        name.startswith("agency.") and pattern is PRE
        for _, name, pattern, _ in notifier
    )


def test_notifier_may_put_a_dead_lettered_agency_report_back_and_say_so_on_the_replays_topic() -> (
    None
):
    notifier = grants("service-notifier")
    assert {(T, f"agency.{agency}.outcomes", LIT, W) for agency in AGENCIES} <= notifier
    assert (T, "signpost.replays", LIT, W) in notifier
    assert not any(
        name == "signpost.replays"
        for _, name, _, _ in grants("service-router") | grants("service-intake")
    )


def test_audit_reads_every_signpost_namespace_and_writes_nothing_but_its_own_events() -> (
    None
):
    audit = grants("service-audit")
    for prefix in ("referral.", "assignment.", "agency.", "practice.", "signpost."):
        assert (T, prefix, PRE, R) in audit
    assert {name for _, name, _, op in audit if op is W} == {
        "signpost.deadletter",
        "signpost.access",
    }


def test_intake_writes_only_submitted_and_cancelled_referrals_and_its_own_events() -> (
    None
):
    intake = grants("service-intake")
    written = {name for _, name, _, op in intake if op is W}
    assert written == {
        "referral.submitted",
        "referral.cancelled",
        "signpost.deadletter",
        "signpost.access",
    }
    assert {(T, "referral.", PRE, R), (T, "assignment.", PRE, R)} <= intake


def test_adding_an_agency_adds_its_grants_and_changes_no_one_elses() -> None:
    more = set(acl_bindings([*AGENCIES, "gamma"]))
    added = more - set(POLICY)
    assert set(POLICY) <= more
    assert {b.principal for b in added} == {
        "User:agency-gamma",
        "User:service-notifier",
    }


def test_policy_is_sorted_without_duplicates_and_independent_of_input_order() -> None:
    assert sorted(set(POLICY)) == POLICY
    assert acl_bindings(["beta", "alpha", "alpha"]) == POLICY


def test_nobody_is_granted_anything_on_the_cluster_or_with_a_wildcard() -> None:
    assert all(b.resource_type in (T, G) and "*" not in b.resource_name for b in POLICY)


@pytest.mark.parametrize("bad", ["a.b", "*", "", "alpha beta", "../x"])
def test_agency_ids_that_could_widen_a_prefix_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="agency id"):
        acl_bindings([bad])


def test_unknown_service_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        acl_bindings(AGENCIES, services=["mailer"])


def test_tool_input_is_one_tab_separated_binding_a_line() -> None:
    binding = AclBinding("User:agency-alpha", T, "agency.alpha.referrals", LIT, R)
    assert (
        as_lines([binding])
        == "User:agency-alpha\tTOPIC\tagency.alpha.referrals\tLITERAL\tREAD\n"
    )


def test_security_kwargs_select_scram_sha_512_over_sasl_ssl_with_a_ca(
    tmp_path: Path,
) -> None:
    ca = tls.ensure(tmp_path).ca_file
    kwargs = security_kwargs("agency-alpha", "s3cret-pass", str(ca))
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "agency-alpha",
        "sasl_plain_password": "s3cret-pass",
    }
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_security_kwargs_without_a_ca_are_sasl_plaintext_for_development_only() -> None:
    assert (
        security_kwargs("agency-alpha", "s3cret-pass", None)["security_protocol"]
        == "SASL_PLAINTEXT"
    )
    assert security_kwargs(None, None, None) == {}


def test_every_principal_gets_a_scram_credential_at_format_time() -> None:
    principals = Principals.generate(AGENCIES)
    args = scram_format_args(principals.all())
    names = {a.split("name=")[1].split(",")[0] for a in args[1::2]}
    assert args[::2] == ["--add-scram"] * len(names)
    assert names == {
        "admin",
        "agency-alpha",
        "agency-beta",
        *(f"service-{s}" for s in SERVICES),
    }
    assert all(a.startswith("SCRAM-SHA-512=[name=") for a in args[1::2])


def test_generated_passwords_are_distinct() -> None:
    passwords = [c.password for c in Principals.generate(AGENCIES).all()]
    assert len(set(passwords)) == len(passwords)


@pytest.mark.parametrize(
    "password", ["short", 'has"quote-x', "has,comma-x", "has]bracket", "has=equals-x"]
)
def test_passwords_that_would_break_the_scram_or_jaas_syntax_are_rejected(
    password: str,
) -> None:
    with pytest.raises(ValueError, match="password"):
        Credential("agency-alpha", password)


def test_principals_survive_a_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "principals.json"
    principals = Principals.generate(AGENCIES)
    principals.save(path)
    assert Principals.load(path) == principals
    assert path.stat().st_mode & 0o077 == 0


def test_secured_node_has_no_unauthenticated_listener_and_denies_by_default(
    tmp_path: Path,
) -> None:
    node = secured_node(tmp_path, Credential("admin", "admin-password"), port=9192)
    props = server_properties(node)
    protocols = dict(
        pair.split(":") for pair in props["listener.security.protocol.map"].split(",")
    )
    assert protocols == {"SASL_SSL": "SASL_SSL", "CONTROLLER": "SASL_SSL"}
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"
    assert (props["ssl.keystore.type"], props["ssl.truststore.type"]) == ("PEM", "PEM")
    assert props["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----\\n")
    assert props["ssl.truststore.location"] == str(tmp_path / "tls" / "ca.pem")
    assert (
        props["authorizer.class.name"]
        == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["super.users"] == "User:admin"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert node.bootstrap == "127.0.0.1:9192"
