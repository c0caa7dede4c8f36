"""Validate rendered manifests without a cluster: Kubernetes' own schemas and the operators' CRD schemas.

No cluster runs on the machines that test Signpost, so the chart is checked
the way an API server would check it before anything is applied: built-in
kinds against the OpenAPI-derived JSON schemas that ``kubernetes-validate``
ships for each Kubernetes version (the strict ones, which refuse unknown
fields), and the Strimzi, CloudNativePG, Prometheus-operator and KEDA kinds
against the ``openAPIV3Schema`` of their CRDs, kept in ``schemas/`` so nothing
is fetched at test time. CRD schemas are made strict the same way (an
unknown field is an error unless the CRD preserves unknown fields), and their
``metadata`` is checked as ObjectMeta.

    python -m deploy.kubernetes.validate rendered.yaml ...   (or - for standard input)
"""

import json
import re
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent / "schemas"
# The oldest and the newest Kubernetes the chart is meant for (Chart.yaml's kubeVersion is the floor).
KUBERNETES_VERSIONS = ("1.31", "1.37")
_DEFINITIONS = "/api/_definitions.json"
_OBJECT_META = {
    "$ref": f"{_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
}
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream, empty documents left out."""
    # libyaml's loader when PyYAML has it: the chart renders some 450 documents.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(text, Loader=loader) if doc]


def _kubernetes_dir(version: str) -> Any:
    return (
        resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{version}.0-local-strict"
    )


@cache
def _definitions(version: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (_kubernetes_dir(version) / "_definitions.json").read_text()
    )
    return loaded


def _crd_path(api_version: str, kind: str) -> Path | None:
    group, _, version = api_version.rpartition("/")
    path = SCHEMAS / group / f"{kind.lower()}-{version}.json"
    return path if group and path.exists() else None


def _strict(node: Any) -> Any:
    """A CRD schema that refuses unknown fields, as kubectl's strict field validation does."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    # An int-or-string field is written either way.
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


@cache
def _schema(api_version: str, kind: str, version: str) -> dict[str, Any]:
    crd = _crd_path(api_version, kind)
    if crd is not None:
        schema: dict[str, Any] = _strict(json.loads(crd.read_text()))
        schema["properties"]["metadata"] = _OBJECT_META
        return schema
    # kubernetes-validate's file names: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1.
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _kubernetes_dir(version) / f"{kind.lower()}-{short}.json"
    if not path.is_file():
        raise LookupError(
            f"no schema for {kind} {api_version} (Kubernetes {version} or schemas/)"
        )
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@cache
def _validator(
    api_version: str, kind: str, version: str
) -> jsonschema.Draft202012Validator:
    """One per kind and Kubernetes version: it keeps the references it has resolved (300 KafkaTopics share one)."""
    registry: Registry[Any] = Registry().with_resource(
        _DEFINITIONS, Resource.from_contents(_definitions(version))
    )
    return jsonschema.Draft202012Validator(
        _schema(api_version, kind, version), registry=registry
    )


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def problems(doc: dict[str, Any], version: str = KUBERNETES_VERSIONS[0]) -> list[str]:
    """What an API server would refuse in this object, each as ``Kind/name: field.path: reason``."""
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    name = (doc.get("metadata") or {}).get("name", "?")
    label = f"{kind}/{name}"
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return [f"{label}: apiVersion and kind are required"]
    try:
        validator = _validator(api_version, kind, version)
    except LookupError as exc:
        return [f"{label}: {exc}"]
    found = [
        f"{label}: {_where(e)}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    ]
    if isinstance(name, str) and (not _NAME.fullmatch(name) or len(name) > 253):
        found.append(
            f"{label}: metadata.name: {name!r} is not a valid Kubernetes object name"
        )
    return found


def all_problems(
    docs: Iterable[dict[str, Any]], versions: Iterable[str] = KUBERNETES_VERSIONS
) -> Iterator[str]:
    docs = list(docs)
    for version in versions:
        for doc in docs:
            for found in problems(doc, version):
                yield f"[Kubernetes {version}] {found}"


def main(argv: list[str] | None = None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or ["-"]
    docs = [
        d
        for p in paths
        for d in documents(sys.stdin.read() if p == "-" else Path(p).read_text())
    ]
    found = list(all_problems(docs))
    for line in found:
        print(line)
    print(f"{len(docs)} manifests, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
