"""The AsyncAPI 3.0 description of Signpost's topics, built from the event catalogue.

One channel per topic (agency and practice topics are parameterised), one
message per event type, and one operation per participant that sends or
receives it, so an agency's developer can see the whole conversation.
"""

from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.version import CONTRACT_VERSION, EVENTS, EventContract

KAFKA_BINDING_VERSION = "0.5.0"
PARAMETERS = {
    "agencyId": "Signpost's id for the agency (e.g. demo-pharmacy); each agency may read and write only its own topics.",
    "odsCode": "ODS code of the referring GP practice (e.g. H81001); each practice reads only its own feedback.",
}
# What the outside parties write carries no Signpost headers; everything Signpost publishes does.
EXTERNAL_SENDERS = frozenset({"agency", "gp_practice"})


def camel(words: Iterable[str]) -> str:
    parts = [
        p
        for word in words
        for p in word.replace("_", ".").split(".")
        if p and "{" not in p
    ]
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def channel_id(topic: str) -> str:
    return camel([topic])


def message_id(contract: EventContract) -> str:
    return camel([contract.type])


def component_schemas() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(c.model, "validation") for c in EVENTS.values()],
        ref_template="#/components/schemas/{model}",
    )
    defs: dict[str, Any] = definitions["$defs"]
    return {name: defs[name] for name in sorted(defs)}


def _headers(contract: EventContract) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "event-type": {"type": "string", "const": contract.type},
            "correlation-id": {
                "type": "string",
                "description": "the X-Correlation-Id of the request that began it all",
            },
            "traceparent": {"type": "string", "description": "W3C trace context"},
        },
        "required": ["event-type"],
    }


def _message(contract: EventContract) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": contract.type,
        "title": contract.model.__name__,
        "summary": contract.summary,
        "contentType": "application/json",
    }
    if not set(contract.senders) <= EXTERNAL_SENDERS:
        message["headers"] = _headers(contract)
        message["bindings"] = {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "pseudonymous patient key; carries no identifier",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    message["payload"] = {"$ref": f"#/components/schemas/{contract.model.__name__}"}
    message["x-event-version"] = contract.version
    return message


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for contract in EVENTS.values():
        for topic in contract.topics:
            channel = channels.setdefault(
                channel_id(topic), {"address": topic, "messages": {}}
            )
            channel["messages"][message_id(contract)] = {
                "$ref": f"#/components/messages/{message_id(contract)}"
            }
            parameters = {
                name: {"description": text}
                for name, text in PARAMETERS.items()
                if f"{{{name}}}" in topic
            }
            if parameters:
                channel["parameters"] = parameters
    return channels


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for contract in EVENTS.values():
        for topic in contract.topics:
            for action, participants in (
                ("send", contract.senders),
                ("receive", contract.receivers),
            ):
                for participant in participants:
                    verb = "sends" if action == "send" else "receives"
                    operations[camel([participant, verb, contract.type])] = {
                        "action": action,
                        "channel": {"$ref": f"#/channels/{channel_id(topic)}"},
                        "summary": f"{participant} {verb} {contract.type} on {topic}",
                        "tags": [{"name": participant}],
                        "messages": [
                            {
                                "$ref": f"#/channels/{channel_id(topic)}/messages/{message_id(contract)}"
                            }
                        ],
                    }
    return operations


def asyncapi_document() -> dict[str, Any]:
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Signpost",
            "version": CONTRACT_VERSION,
            "description": (
                "Event-driven referral routing for English integrated care. Every event is JSON on Apache Kafka, "
                "keyed by a pseudonymous patient key. Generated from the pydantic models in schemas/ by "
                "`python -m schemas.generate`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "messages": {message_id(c): _message(c) for c in EVENTS.values()},
            "schemas": component_schemas(),
        },
    }
