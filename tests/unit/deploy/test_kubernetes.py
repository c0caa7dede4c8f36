"""The Helm chart, rendered and checked without a cluster: schemas, drift from the local launchers, the promises it makes.

``helm template`` renders it (helm comes from ``make helm``, which ``make test`` runs
beside the tests: the tests that need helm wait for it); every manifest is
validated against Kubernetes' schemas and the Strimzi / CloudNativePG /
Prometheus-operator / KEDA CRD schemas kept in deploy/kubernetes/schemas.
"""

import copy
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

import services.notifier.loops.timers  # noqa: F401  (registers the SLA breach counter)
import signpost.metrics  # noqa: F401
from deploy.kafka.acls import SERVICES, acl_bindings
from deploy.kubernetes import drift, generate, render, validate
from signpost.settings import DEFAULT_PORTS, Settings
from signpost.topics import CORE_TOPICS, agency_topics, practice_topics
from tests.support.helm_build import WAITING_TIMEOUT, helm_build_problem

Manifest = dict[str, Any]

pytestmark = WAITING_TIMEOUT


@pytest.mark.parametrize(
    ("status", "logged", "reported"),
    [
        (
            "1\n",
            "go: invalid version: unknown revision",
            "the helm build failed (status 1",
        ),
        (None, "go: downloading helm.sh/helm/v3 v3.22.0", "still running after 1 s"),
    ],
    ids=["failed", "still-running"],
)
def test_a_helm_build_that_gives_no_helm_is_reported_with_its_log(
    tmp_path: Path, status: str | None, logged: str, reported: str
) -> None:
    log = tmp_path / "helm-build.log"
    log.write_text(f"{logged}\n")
    if status is not None:
        (tmp_path / "helm-build.log.status").write_text(status)
    problem = helm_build_problem(log, wait_s=1)
    assert problem is not None
    assert reported in problem
    assert logged in problem


def test_a_helm_build_that_finishes_during_the_wait_is_awaited(tmp_path: Path) -> None:
    log = tmp_path / "helm-build.log"
    log.write_text("")
    status = tmp_path / "helm-build.log.status"
    written = tmp_path / "helm-build.log.status.tmp"

    def finished() -> None:
        # As the Makefile does (tmp, then mv): a status written in place was once read empty between the two.
        written.write_text("0\n")
        written.rename(status)

    finish = threading.Timer(1.0, finished)
    finish.start()
    try:
        assert helm_build_problem(log, wait_s=30) is None
    finally:
        finish.cancel()


@pytest.fixture(scope="module")
def chart(helm_built: None) -> list[Manifest]:
    """The chart as installed by default."""
    return render.manifests()


@pytest.fixture(scope="module")
def autoscaled(helm_built: None) -> list[Manifest]:
    """The chart with KEDA autoscaling switched on."""
    return render.manifests("autoscaling.enabled=true")


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def by_name(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def pod(deployment: Manifest) -> Manifest:
    spec: Manifest = deployment["spec"]["template"]["spec"]
    return spec


# --- every manifest is one an API server with the operators installed would accept


def test_every_rendered_manifest_is_valid_for_kubernetes_and_the_operators(
    chart: list[Manifest],
) -> None:
    kinds = {d["kind"] for d in chart}
    assert {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
        "Database",
        "Deployment",
        "Service",
    } <= kinds
    assert {
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
        "ServiceMonitor",
        "ConfigMap",
    } <= kinds
    assert list(validate.all_problems(chart)) == []


def test_the_autoscaling_objects_are_valid_for_keda(autoscaled: list[Manifest]) -> None:
    scaled = by_name(autoscaled, "ScaledObject")
    assert sorted(scaled) == sorted(f"signpost-{s}" for s in SERVICES)
    assert len(of_kind(autoscaled, "TriggerAuthentication")) == len(SERVICES)
    assert list(validate.all_problems(autoscaled)) == []
    # With KEDA in charge the Deployments leave their replica count to it.
    assert all("replicas" not in d["spec"] for d in of_kind(autoscaled, "Deployment"))


@pytest.mark.parametrize(
    "settings",
    [
        (
            "tls.certManager.enabled=false",
            "kafka.brokers.storage.class=fast-ssd",
            "postgres.storage.class=fast-ssd",
        ),
        ("kafka.external.enabled=true", "kafka.external.allowedCidrs={192.0.2.0/24}"),
        (
            "monitoring.serviceMonitor.enabled=false",
            "monitoring.dashboard.enabled=false",
        ),
    ],
)
def test_other_choices_of_values_render_valid_manifests(
    settings: tuple[str, ...], helm_built: None
) -> None:
    docs = render.manifests(*settings)
    # The 421 topics and users do not depend on these values, and the default render validates them.
    assert (
        list(
            validate.all_problems(
                d for d in docs if d["kind"] not in ("KafkaTopic", "KafkaUser")
            )
        )
        == []
    )
    if "tls.certManager.enabled=false" in settings:
        # The platform team's own Secrets then: the same names, mounted the same way.
        assert of_kind(docs, "Certificate") == []
        volumes = {
            v["name"]: v
            for v in pod(by_name(docs, "Deployment")["signpost-intake"])["volumes"]
        }
        assert volumes["tls"]["secret"]["secretName"] == "signpost-intake-tls"
    elif "kafka.external.enabled=true" in settings:
        (kafka,) = of_kind(docs, "Kafka")
        (external,) = [
            item
            for item in kafka["spec"]["kafka"]["listeners"]
            if item["name"] == "external"
        ]
        assert external["tls"] is True
        assert external["authentication"] == {"type": "scram-sha-512"}
        assert external["networkPolicyPeers"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    else:
        assert of_kind(docs, "ServiceMonitor") == []


def test_helm_lint_passes_strictly_with_and_without_autoscaling(
    helm_built: None,
) -> None:
    assert "0 chart(s) failed" in render.lint()
    assert "0 chart(s) failed" in render.lint("autoscaling.enabled=true")


def test_keda_scales_on_the_consumer_groups_the_services_really_use(
    autoscaled: list[Manifest],
) -> None:
    """Each trigger's group is one the service's code joins (services/<name>/app.py) and its principal may read."""
    policy = acl_bindings(generate.agencies())
    for service in SERVICES:
        code = (render.REPO / "services" / service / "app.py").read_text()
        joined = set(re.findall(r'group="([^"]+)"', code))
        groups = {
            t["metadata"]["consumerGroup"]
            for t in by_name(autoscaled, "ScaledObject")[f"signpost-{service}"]["spec"][
                "triggers"
            ]
        }
        assert groups <= joined, (service, groups - joined)
        readable = [
            b
            for b in policy
            if b.principal == f"User:service-{service}"
            and b.resource_type.value == "GROUP"
            and b.operation.value == "READ"
        ]
        for group in groups:
            assert any(
                group == b.resource_name
                or (
                    b.pattern_type.value == "PREFIXED"
                    and group.startswith(b.resource_name)
                )
                for b in readable
            )


def test_a_kafka_topic_with_a_string_for_partitions_is_refused_naming_the_field(
    chart: list[Manifest],
) -> None:
    topic = copy.deepcopy(of_kind(chart, "KafkaTopic")[0])
    topic["spec"]["partitions"] = "six"
    found = validate.problems(topic)
    assert found, "a KafkaTopic with partitions: 'six' passed"
    assert "spec.partitions" in found[0]
    assert "'six' is not of type 'integer'" in found[0]


def test_a_deployment_without_a_container_name_is_refused_naming_the_field(
    chart: list[Manifest],
) -> None:
    deployment = copy.deepcopy(of_kind(chart, "Deployment")[0])
    del pod(deployment)["containers"][0]["name"]
    found = validate.problems(deployment)
    assert any(
        "spec.template.spec.containers.0" in p and "'name' is a required property" in p
        for p in found
    ), found


def test_an_unknown_field_in_a_crd_object_is_refused(chart: list[Manifest]) -> None:
    user = copy.deepcopy(of_kind(chart, "KafkaUser")[0])
    user["spec"]["authorisation"] = user["spec"].pop("authorization")
    found = validate.problems(user)
    assert any("'authorisation' was unexpected" in p for p in found), found


def test_a_bad_enum_and_a_bad_name_in_the_postgres_cluster_are_refused(
    chart: list[Manifest],
) -> None:
    cluster = copy.deepcopy(of_kind(chart, "Cluster")[0])
    cluster["spec"]["primaryUpdateStrategy"] = "whenever"
    cluster["metadata"]["name"] = "Signpost_DB"
    found = validate.problems(cluster)
    assert any("spec.primaryUpdateStrategy" in p for p in found), found
    assert any("metadata.name" in p for p in found), found


# --- the chart's topics and ACLs are the local launchers' topics and ACLs


def test_the_generated_kafka_file_is_fresh() -> None:
    assert generate.GENERATED.read_text() == generate.render(), (
        "run: python -m deploy.kubernetes.generate"
    )


def test_the_rendered_topics_are_the_ones_the_local_stack_creates(
    chart: list[Manifest],
) -> None:
    agencies, referrers = generate.agencies(), generate.referrers()
    local = {**CORE_TOPICS, **agency_topics(agencies), **practice_topics(referrers)}
    assert drift.rendered_topics(chart) == local
    assert len(local) == len(CORE_TOPICS) + 2 * len(agencies) + len(referrers)


def test_the_rendered_acls_are_the_secured_brokers_policy(
    chart: list[Manifest],
) -> None:
    assert drift.rendered_acls(chart) == set(acl_bindings(generate.agencies()))
    users = set(by_name(chart, "KafkaUser"))
    assert {f"service-{s}" for s in SERVICES} | {
        f"agency-{a}" for a in generate.agencies()
    } == users


def test_a_topic_added_locally_without_regenerating_is_reported(
    chart: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    agencies, referrers = generate.agencies(), generate.referrers()
    assert drift.drift(chart, agencies, referrers) == []
    monkeypatch.setitem(CORE_TOPICS, "referral.reopened", 3)
    assert drift.drift(chart, agencies, referrers) == [
        "topic referral.reopened is created locally but not by the chart"
    ]
    assert generate.GENERATED.read_text() != generate.render()


def test_an_agency_added_locally_without_regenerating_is_reported(
    chart: list[Manifest],
) -> None:
    found = drift.drift(chart, [*generate.agencies(), "gamma"], generate.referrers())
    assert (
        "topic agency.gamma.referrals is created locally but not by the chart" in found
    )
    assert any(
        "ACL missing from the chart" in f and "User:agency-gamma" in f for f in found
    )
    assert any(
        "ACL missing from the chart" in f
        and "User:service-notifier" in f
        and "agency.gamma.referrals" in f
        for f in found
    )


def test_a_partition_count_changed_locally_is_reported(
    chart: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CORE_TOPICS, "referral.submitted", 12)
    found = drift.drift(chart, generate.agencies(), generate.referrers())
    assert found == [
        "topic referral.submitted has 6 partitions in the chart, 12 locally"
    ]


def test_two_topics_that_would_share_a_resource_name_are_refused() -> None:
    with pytest.raises(ValueError, match="same Kubernetes object name"):
        generate.document([], ["AB1", "ab1"])


def test_an_agency_id_that_is_no_valid_kafkauser_name_is_refused() -> None:
    # Kafka and the local ACLs accept upper case; a KafkaUser's name is its SCRAM user name and must be lower case.
    with pytest.raises(ValueError, match="'agency-Alpha' is no valid KafkaUser name"):
        generate.document(["Alpha"], [])


def test_kafka_runs_in_kraft_mode_with_node_pools_and_scram_listeners(
    chart: list[Manifest],
) -> None:
    (kafka,) = of_kind(chart, "Kafka")
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/node-pools": "enabled",
        "strimzi.io/kraft": "enabled",
    }
    listeners = {item["name"]: item for item in kafka["spec"]["kafka"]["listeners"]}
    # No plaintext listener: the services speak SASL_SSL like every other client.
    assert [name for name, item in listeners.items() if item["tls"] is not True] == []
    assert {item["authentication"]["type"] for item in listeners.values()} == {
        "scram-sha-512"
    }
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    roles = sorted(tuple(p["spec"]["roles"]) for p in of_kind(chart, "KafkaNodePool"))
    assert roles == [("broker",), ("controller",)]


# --- the services


def test_each_service_runs_its_module_with_probes_on_its_own_port(
    chart: list[Manifest],
) -> None:
    deployments = by_name(chart, "Deployment")
    assert sorted(deployments) == sorted(f"signpost-{s}" for s in SERVICES)
    for service in SERVICES:
        (container,) = pod(deployments[f"signpost-{service}"])["containers"]
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert container["ports"][0]["containerPort"] == DEFAULT_PORTS[service]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"requests", "limits"} <= set(container["resources"])
    assert {
        p["spec"]["selector"]["matchLabels"]["signpost.io/service"]
        for p in of_kind(chart, "PodDisruptionBudget")
    } == set(SERVICES)


def test_every_signpost_variable_the_chart_sets_is_a_setting_the_code_reads(
    chart: list[Manifest],
) -> None:
    settings = {f"SIGNPOST_{name.upper()}" for name in Settings.model_fields}
    for deployment in of_kind(chart, "Deployment"):
        names = {e["name"] for e in pod(deployment)["containers"][0]["env"]}
        assert {n for n in names if n.startswith("SIGNPOST_")} <= settings, deployment[
            "metadata"
        ]["name"]
        assert {
            "SIGNPOST_DATABASE_URL",
            "SIGNPOST_KAFKA_BOOTSTRAP",
            "SIGNPOST_PSEUDONYM_KEY",
        } <= names


def test_the_chart_holds_no_secret_values(chart: list[Manifest]) -> None:
    assert of_kind(chart, "Secret") == []
    for deployment in of_kind(chart, "Deployment"):
        env = {e["name"]: e for e in pod(deployment)["containers"][0]["env"]}
        for name in (
            "SIGNPOST_KAFKA_SASL_PASSWORD",
            "SIGNPOST_PSEUDONYM_KEY",
            "DATABASE_PASSWORD",
        ):
            assert "value" not in env[name], name
            assert "secretKeyRef" in env[name]["valueFrom"], name
        assert "$(DATABASE_PASSWORD)" in env["SIGNPOST_DATABASE_URL"]["value"]


def test_each_service_logs_in_to_postgres_as_its_own_role(
    chart: list[Manifest],
) -> None:
    (cluster,) = of_kind(chart, "Cluster")
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {f"signpost_{s}" for s in SERVICES} | {"signpost_audit_writer"}
    # Migration 004 grants the writer to signpost_audit itself, which takes the ADMIN option: only audit has it.
    assert [
        r
        for r, spec in roles.items()
        if "signpost_audit_writer_admin" in spec.get("inRoles", [])
    ] == ["signpost_audit"]
    sql = cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"]
    assert (
        "GRANT signpost_audit_writer TO signpost_audit_writer_admin WITH ADMIN OPTION"
        in sql
    )
    for deployment in of_kind(chart, "Deployment"):
        service = deployment["metadata"]["labels"]["signpost.io/service"]
        env = {e["name"]: e for e in pod(deployment)["containers"][0]["env"]}
        assert env["SIGNPOST_DATABASE_URL"]["value"].startswith(
            f"postgresql://signpost_{service}:"
        )
        assert (
            env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
            == roles[f"signpost_{service}"]["passwordSecret"]["name"]
        )
    (database,) = of_kind(chart, "Database")
    assert {s["name"]: s["owner"] for s in database["spec"]["schemas"]} == {
        s: f"signpost_{s}" for s in SERVICES
    }


def test_pods_run_unprivileged_without_a_service_account_token(
    chart: list[Manifest],
) -> None:
    (account,) = of_kind(chart, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for deployment in of_kind(chart, "Deployment"):
        spec = pod(deployment)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = spec["containers"][0]["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


# --- the network: only DESIGN.md's flows


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def http_flows(docs: list[Manifest]) -> set[tuple[str, str]]:
    """(caller, service) pairs the policies allow on a service's HTTP port: a namespace or another service."""
    flows: set[tuple[str, str]] = set()
    for policy in of_kind(docs, "NetworkPolicy"):
        target = (
            policy["spec"]["podSelector"]
            .get("matchLabels", {})
            .get("signpost.io/service")
        )
        if target is None:
            continue
        for rule in policy["spec"].get("ingress", []):
            assert [p["port"] for p in rule["ports"]] == [DEFAULT_PORTS[target]]
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    flows.add(
                        (
                            peer["namespaceSelector"]["matchLabels"][
                                "kubernetes.io/metadata.name"
                            ],
                            target,
                        )
                    )
                else:
                    flows.add(
                        (
                            peer["podSelector"]["matchLabels"]["signpost.io/service"],
                            target,
                        )
                    )
    return flows


def test_network_policies_allow_only_the_designed_http_flows(
    chart: list[Manifest],
) -> None:
    deny = by_name(chart, "NetworkPolicy")["signpost-default-deny"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    public = {("ingress-nginx", s) for s in ("intake", "notifier", "audit")}
    scraping = {("monitoring", s) for s in SERVICES}
    # services/audit/api/operations.py relays hand assignments to the router and dead-letter replays to the notifier.
    relays = {("audit", "router"), ("audit", "notifier")}
    assert http_flows(chart) == public | scraping | relays


def test_services_may_leave_only_for_kafka_postgres_dns_and_their_relays(
    chart: list[Manifest],
) -> None:
    policies = by_name(chart, "NetworkPolicy")
    for service in SERVICES:
        policy = policies[f"signpost-{service}"]
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        reached = []
        for rule in policy["spec"]["egress"]:
            (peer,) = rule["to"]
            labels = peer.get("podSelector", {}).get("matchLabels", {})
            reached.append(
                "kafka"
                if labels.get("strimzi.io/broker-role") == "true"
                else "postgres"
                if "cnpg.io/cluster" in labels
                else "dns"
                if labels.get("k8s-app") == "kube-dns"
                else labels.get(
                    "signpost.io/service", "internet:443" if "ipBlock" in peer else "?"
                )
            )
        expected = [
            "kafka",
            "postgres",
            "dns",
            *{"audit": ["router", "notifier"], "notifier": ["internet:443"]}.get(
                service, []
            ),
        ]
        assert reached == expected, service
    notifier_web = policies["signpost-notifier"]["spec"]["egress"][-1]["to"][0][
        "ipBlock"
    ]
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(
        notifier_web["except"]
    )


def test_only_signpost_pods_reach_the_database(chart: list[Manifest]) -> None:
    policy = by_name(chart, "NetworkPolicy")["signpost-db"]
    service_pod = {
        "app.kubernetes.io/name": "signpost",
        "app.kubernetes.io/instance": "signpost",
        "signpost.io/service": "intake",
    }
    other_pod = {"app.kubernetes.io/name": "something-else"}
    allowed_5432 = [
        p
        for r in policy["spec"]["ingress"]
        if {"port": 5432, "protocol": "TCP"} in r["ports"]
        for p in r["from"]
    ]
    assert any(
        "podSelector" in p and _selects(p["podSelector"], service_pod)
        for p in allowed_5432
    )
    assert not any(
        "podSelector" in p and _selects(p["podSelector"], other_pod)
        for p in allowed_5432
    )


# --- Prometheus and Grafana


def test_each_service_is_scraped_on_metrics(chart: list[Manifest]) -> None:
    monitors = by_name(chart, "ServiceMonitor")
    assert sorted(monitors) == sorted(f"signpost-{s}" for s in SERVICES)
    assert {m["spec"]["endpoints"][0]["path"] for m in monitors.values()} == {
        "/metrics"
    }


_SERIES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def _registered_metrics() -> set[str]:
    """The series names Prometheus sees for every metric registered in this process (no samples needed)."""
    return {
        metric.name + suffix
        for metric in REGISTRY.collect()
        for suffix in _SERIES.get(metric.type, ("",))
    }


def test_the_dashboard_uses_only_metrics_the_services_export(
    chart: list[Manifest],
) -> None:
    config = by_name(chart, "ConfigMap")["signpost-dashboard"]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["signpost.json"])
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in expressions for m in re.findall(r"\bsignpost_[a-z_]+", e)}
    # What an operator watches: lag, outbox depth and held topics, dead letters, SLA breaches, routing decisions.
    assert {
        "signpost_consumer_lag",
        "signpost_outbox_depth",
        "signpost_outbox_held",
        "signpost_dead_letters_total",
    } <= used
    assert {"signpost_sla_breaches_total", "signpost_messages_produced_total"} <= used
    assert used <= _registered_metrics(), used - _registered_metrics()


def test_the_dashboard_file_is_the_one_in_the_config_map(chart: list[Manifest]) -> None:
    shipped = Path(generate.CHART / "dashboards" / "signpost.json").read_text()
    assert json.loads(
        by_name(chart, "ConfigMap")["signpost-dashboard"]["data"]["signpost.json"]
    ) == json.loads(shipped)


# --- secure by default: what the chart runs is what a service outside development mode accepts


def _production_settings(deployment: Manifest) -> tuple[Settings, dict[str, bytes]]:
    """The settings a pod of this Deployment starts with, and the files its volumes put where the settings look.

    Secret values are stand-ins (a cluster's are the platform team's); a file is "there" only when a volume of
    the pod mounts an item at that path, so a setting naming a path nothing mounts reads as missing.
    """
    container = pod(deployment)["containers"][0]
    secrets = {"DATABASE_PASSWORD": "db-password-from-a-secret"}
    env: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            env[item["name"]] = secrets.get(
                item["name"], "a-secret-value-of-the-platform-teams-own-0123456789"
            )
        else:
            env[item["name"]] = item["value"].replace(
                "$(DATABASE_PASSWORD)", secrets["DATABASE_PASSWORD"]
            )
    volumes = {v["name"]: v for v in pod(deployment)["volumes"]}
    files: dict[str, bytes] = {}
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]].get("secret")
        for item in (source or {}).get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = (
                f"contents of {source['secretName']}/{item['key']}".encode()
            )
    fields = {
        name.removeprefix("SIGNPOST_").lower(): value
        for name, value in env.items()
        if name.startswith("SIGNPOST_")
    }
    # The test process itself runs in development mode (tests/conftest.py); a pod sets nothing of the kind.
    fields.setdefault("development_mode", "false")
    return Settings.model_validate(fields), files


def _reader(files: dict[str, bytes]) -> Callable[[Path], bytes | None]:
    return lambda path: files.get(str(path))


def test_every_service_as_the_chart_runs_it_passes_the_production_startup_checks(
    chart: list[Manifest],
) -> None:
    from signpost.startup_checks import development_identities, problems

    for deployment in of_kind(chart, "Deployment"):
        settings, files = _production_settings(deployment)
        assert settings.development_mode is False
        found = problems(settings, development_identities(), read=_reader(files))
        assert found == [], (deployment["metadata"]["name"], found)


def test_a_chart_without_the_https_certificate_would_be_refused_at_start(
    chart: list[Manifest],
) -> None:
    """The check above can fail: a pod whose certificate is not mounted is one the service refuses to run as."""
    from signpost.startup_checks import development_identities, problems

    deployment = copy.deepcopy(by_name(chart, "Deployment")["signpost-router"])
    container = pod(deployment)["containers"][0]
    container["volumeMounts"] = [
        m for m in container["volumeMounts"] if m["name"] != "tls"
    ]
    settings, files = _production_settings(deployment)
    found = problems(settings, development_identities(), read=_reader(files))
    assert any(
        "SIGNPOST_TLS_CERTFILE=/etc/signpost/tls/tls.crt cannot be read" in p
        for p in found
    ), found


def test_services_reach_kafka_over_tls_only_and_serve_and_are_probed_and_scraped_over_https(
    chart: list[Manifest],
) -> None:
    monitors = by_name(chart, "ServiceMonitor")
    certificates = by_name(chart, "Certificate")
    for service in SERVICES:
        deployment = by_name(chart, "Deployment")[f"signpost-{service}"]
        (container,) = pod(deployment)["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["SIGNPOST_KAFKA_BOOTSTRAP"] == "signpost-kafka-kafka-bootstrap:9093"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["scheme"] == "HTTPS", (service, probe)
        (endpoint,) = monitors[f"signpost-{service}"]["spec"]["endpoints"]
        assert endpoint["scheme"] == "https"
        assert endpoint["tlsConfig"]["ca"]["secret"] == {
            "name": f"signpost-{service}-tls",
            "key": "ca.crt",
        }
        certificate = certificates[f"signpost-{service}"]["spec"]
        assert certificate["secretName"] == f"signpost-{service}-tls"
        # The name Prometheus checks and the audit relays call is one the certificate is for.
        assert endpoint["tlsConfig"]["serverName"] in certificate["dnsNames"]
    (kafka,) = of_kind(chart, "Kafka")
    assert {item["port"] for item in kafka["spec"]["kafka"]["listeners"]} == {9093}


def test_audit_relays_to_the_router_and_notifier_services_by_name_over_https(
    chart: list[Manifest],
) -> None:
    from signpost.service_urls import service_url

    settings, _ = _production_settings(by_name(chart, "Deployment")["signpost-audit"])
    services = by_name(chart, "Service")
    certificates = by_name(chart, "Certificate")
    for target in ("router", "notifier"):
        url = service_url(settings, target)
        host, port = url.removeprefix("https://").split(":")
        assert url.startswith("https://"), url
        assert (
            int(port)
            == services[host]["spec"]["ports"][0]["port"]
            == DEFAULT_PORTS[target]
        )
        assert host in certificates[host]["spec"]["dnsNames"]
