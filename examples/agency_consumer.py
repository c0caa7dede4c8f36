"""An agency's side of Signpost: read our referral topic, check each message against the published schema, accept it.

Uses nothing from Signpost but its published JSON Schemas (``schemas/json``)
and its HTTP API, as a pharmacy system written in any language would. Needs
``aiokafka``, ``httpx`` and ``jsonschema-rs``; see README.md for the settings.

Offsets are committed only after the outcome is posted, so a crash means the
message is read again; the outcome's ``event_id`` is derived from the
referral's, so posting it again is recognised as a repeat, not a second report.
"""

import asyncio
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
from aiokafka import AIOKafkaConsumer

log = logging.getLogger("agency")
SCHEMA_DIR = Path(
    os.environ.get(
        "SIGNPOST_SCHEMA_DIR",
        Path(__file__).resolve().parent.parent / "schemas" / "json",
    )
)
RETRY_DELAYS = (1, 2, 5, 10, 30, 60)


@cache
def validator(event_type: str, version: int) -> jsonschema_rs.Validator:
    """The published schema named by a message's own type and version, e.g. ``agency.referral.v1.json``."""
    path = SCHEMA_DIR / f"{event_type}.v{version}.json"
    if not path.is_file():
        raise LookupError(
            f"no published schema {path.name}; is this consumer older than the message?"
        )
    return jsonschema_rs.validator_for(
        json.loads(path.read_text()), validate_formats=True
    )


def problems(message: dict[str, Any], event_type: str) -> list[str]:
    """Every way ``message`` breaks its schema, as ``path: message`` lines."""
    version = message.get("version", 1)
    if not isinstance(version, int):
        return [f"version: {version!r} is not an integer"]
    try:
        check = validator(event_type, version)
    except LookupError as unknown:
        return [str(unknown)]
    return [
        f"{'/'.join(map(str, error.instance_path)) or '(root)'}: {error.message}"
        for error in check.iter_errors(message)
    ]


def kafka_security() -> dict[str, Any]:
    """SASL/SCRAM when a username is set (Signpost's secured broker gives each agency its own), plaintext otherwise.

    With ``KAFKA_SSL_CAFILE`` (the CA that signs the broker's certificate; ``make run``'s is
    ``.signpost/tls/ca.pem``) the connection is TLS: SASL_SSL, as Signpost's secured broker requires.
    """
    username = os.environ.get("KAFKA_USERNAME")
    if not username:
        return {}
    cafile = os.environ.get("KAFKA_SSL_CAFILE")
    security: dict[str, Any] = {
        "security_protocol": os.environ.get(
            "KAFKA_SECURITY_PROTOCOL", "SASL_SSL" if cafile else "SASL_PLAINTEXT"
        ),
        "sasl_mechanism": os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        "sasl_plain_username": username,
        "sasl_plain_password": os.environ["KAFKA_PASSWORD"],
    }
    if cafile:
        from aiokafka.helpers import create_ssl_context

        security["ssl_context"] = create_ssl_context(cafile=cafile)
    return security


def accepted_outcome(referral: dict[str, Any]) -> dict[str, Any]:
    assignment_id = referral["assignment"]["assignment_id"]
    outcome = {
        "type": "agency.outcome",
        "event_id": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"signpost:{referral['event_id']}:accepted")
        ),
        "assignment_id": assignment_id,
        "outcome": "accepted",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    if errors := problems(outcome, "agency.outcome"):
        raise ValueError(f"our own outcome breaks the published schema: {errors}")
    return outcome


async def post_outcome(
    http: httpx.AsyncClient, outcome: dict[str, Any], correlation_id: str
) -> None:
    """POST with retries on network errors and 5xx; a 4xx is Signpost saying no, which retrying will not change."""
    headers = {"X-Request-Id": outcome["event_id"], "X-Correlation-Id": correlation_id}
    url = f"/v1/assignments/{outcome['assignment_id']}/outcomes"
    for delay in (*RETRY_DELAYS, None):
        try:
            response = await http.post(url, json=outcome, headers=headers)
        except httpx.TransportError as error:
            log.warning("notifier unreachable (%s)", error)
        else:
            if response.status_code in (401, 403):
                raise RuntimeError(
                    f"Signpost refused our credentials ({response.status_code}); check SIGNPOST_TOKEN"
                )
            if response.status_code < 500:
                if response.is_error:
                    # Problem details (RFC 9457): "detail" says why, e.g. the assignment was already completed.
                    is_json = response.headers.get("content-type", "").endswith("json")
                    log.error(
                        "outcome refused %s: %s",
                        response.status_code,
                        response.json().get("detail") if is_json else response.text,
                    )
                return
            log.warning("notifier answered %s", response.status_code)
        if delay is None:
            raise RuntimeError(
                "notifier still failing; stopping without committing, so this message is read again"
            )
        await asyncio.sleep(delay)


async def handle(http: httpx.AsyncClient, raw: bytes) -> None:
    try:
        referral = json.loads(raw)
    except ValueError:
        log.error("skipping a message that is not JSON")
        return
    errors = (
        problems(referral, "agency.referral")
        if isinstance(referral, dict)
        else ["(root): not a JSON object"]
    )
    if errors:
        # A real agency would put this aside for a person; it must never be silently accepted.
        log.error(
            "skipping a message that breaks the published schema: %s", "; ".join(errors)
        )
        return
    assignment = referral["assignment"]
    # Log ids and needs only: never the patient's name or NHS number.
    log.info(
        "referral %s, assignment %s: %s",
        referral["referral_id"],
        assignment["assignment_id"],
        assignment.get("needs", []),
    )
    await post_outcome(http, accepted_outcome(referral), referral["correlation_id"])


async def main() -> None:
    agency_id = os.environ["AGENCY_ID"]
    consumer = AIOKafkaConsumer(
        f"agency.{agency_id}.referrals",
        bootstrap_servers=os.environ.get("SIGNPOST_KAFKA_BOOTSTRAP", "localhost:9092"),
        group_id=f"agency.{agency_id}.consumer",  # the ACLs allow an agency groups under its own prefix only
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_security(),
    )
    auth = {"Authorization": f"Bearer {os.environ['SIGNPOST_TOKEN']}"}
    async with httpx.AsyncClient(
        base_url=os.environ.get("SIGNPOST_NOTIFIER_URL", "http://localhost:8003"),
        headers=auth,
    ) as http:
        await consumer.start()
        try:
            async for message in consumer:
                await handle(http, message.value)
                await consumer.commit()
        finally:
            await consumer.stop()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    asyncio.run(main())
