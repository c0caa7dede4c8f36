"""Does the rendered chart ask Strimzi for exactly the topics and ACLs the local launchers create?

The expected side is computed here, at call time, straight from
``signpost/topics.py`` and ``deploy/kafka/acls.py`` (not from the generated
file), so a topic added there and not regenerated into the chart shows up as
missing.
"""

from collections.abc import Iterable
from typing import Any

from deploy.kafka.acls import (
    SERVICES,
    AclBinding,
    Operation,
    PatternType,
    ResourceType,
    acl_bindings,
)
from signpost import topics

_PATTERN = {"literal": PatternType.LITERAL, "prefix": PatternType.PREFIXED}


def rendered_topics(docs: Iterable[dict[str, Any]]) -> dict[str, int]:
    return {
        d["spec"].get("topicName", d["metadata"]["name"]): d["spec"]["partitions"]
        for d in docs
        if d["kind"] == "KafkaTopic"
    }


def rendered_acls(docs: Iterable[dict[str, Any]]) -> set[AclBinding]:
    """Every allow rule of every KafkaUser, in the local policy's terms (a deny or a host limit is not ours)."""
    found: set[AclBinding] = set()
    for doc in docs:
        if doc["kind"] != "KafkaUser":
            continue
        for acl in doc["spec"]["authorization"]["acls"]:
            if acl.get("type", "allow") != "allow" or acl.get("host", "*") != "*":
                raise ValueError(
                    f"KafkaUser/{doc['metadata']['name']}: only allow rules from any host are generated"
                )
            res = acl["resource"]
            for op in acl["operations"]:
                found.add(
                    AclBinding(
                        f"User:{doc['metadata']['name']}",
                        ResourceType(res["type"].upper()),
                        res["name"],
                        _PATTERN[res.get("patternType", "literal")],
                        Operation(op.upper()),
                    )
                )
    return found


def expected_topics(
    agency_ids: Iterable[str], referrer_ods: Iterable[str]
) -> dict[str, int]:
    return {
        **topics.CORE_TOPICS,
        **topics.agency_topics(agency_ids),
        **topics.practice_topics(referrer_ods),
    }


def drift(
    docs: list[dict[str, Any]], agency_ids: list[str], referrer_ods: list[str]
) -> list[str]:
    """Each difference, in words; empty when the chart and the local launchers agree."""
    found: list[str] = []
    have, want = rendered_topics(docs), expected_topics(agency_ids, referrer_ods)
    found += [
        f"topic {t} is created locally but not by the chart"
        for t in sorted(want.keys() - have.keys())
    ]
    found += [
        f"topic {t} is in the chart but not created locally"
        for t in sorted(have.keys() - want.keys())
    ]
    found += [
        f"topic {t} has {have[t]} partitions in the chart, {want[t]} locally"
        for t in sorted(want.keys() & have.keys())
        if have[t] != want[t]
    ]
    granted, policy = rendered_acls(docs), set(acl_bindings(agency_ids, SERVICES))
    found += [f"ACL missing from the chart: {b}" for b in sorted(policy - granted)]
    found += [
        f"ACL in the chart beyond the local policy: {b}"
        for b in sorted(granted - policy)
    ]
    return found
