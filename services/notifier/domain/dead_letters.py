"""Pure decisions about dead letters: what a dead record was about, what may be shown, what a replay sends."""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from schemas.events import DeadLetterReplayed

_REPLAY_NAMESPACE = UUID("0f3e7c1a-6b2d-4d8e-9a51-3c7f0b9e2d64")
# Its own namespace, so the event that says "replayed" never shares an id with the replayed record.
_REPLAYED_NAMESPACE = UUID("5b1c2f0e-93a4-4c57-b8d6-7e20a4f1c3b9")
Source = tuple[
    str, int, int
]  # original topic, partition, offset: one record on the broker


def _field(payload: bytes, name: str) -> str | None:
    try:
        body = json.loads(payload)
    except (
        ValueError
    ):  # UnicodeDecodeError is a ValueError: a poison record may be any bytes
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def referral_of(payload: bytes) -> UUID | None:
    """The referral a dead record was about, when it is JSON that says so (a poison record may be anything)."""
    value = _field(payload, "referral_id")
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def patient_key_of(payload: bytes) -> str | None:
    """The Kafka key a replay uses: every Signpost event is keyed by its patient key, so one patient's order is kept."""
    return _field(payload, "patient_key")


def replay_event_id(dead_letter_id: UUID, replays_before: int) -> UUID:
    """A distinct outbox id per replay, so a forced second replay is sent and the consumers' inbox is what stops it."""
    return uuid5(_REPLAY_NAMESPACE, f"{dead_letter_id}:{replays_before + 1}")


def replayed(
    letter: Mapping[str, Any],
    marked: Sequence[UUID],
    *,
    by: str,
    correlation_id: str,
    forced: bool,
    at: datetime,
) -> DeadLetterReplayed:
    """The event that puts a replay on the record: which letter was asked for, which it answers, who, how many times."""
    replay = int(letter["replays"]) + 1
    payload = bytes(letter["payload"])
    return DeadLetterReplayed(
        event_id=uuid5(_REPLAYED_NAMESPACE, f"{letter['dead_letter_id']}:{replay}"),
        occurred_at=at,
        correlation_id=correlation_id,
        dead_letter_id=letter["dead_letter_id"],
        dead_letter_ids=sorted(marked),
        original_topic=letter["original_topic"],
        original_partition=letter["original_partition"],
        original_offset=letter["original_offset"],
        replay=replay,
        forced=forced,
        replayed_by=by,
        referral_id=referral_of(payload),
        patient_key=patient_key_of(payload),
    )


def safe_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A dead letter as JSON for listing: never the payload or headers, which may name a patient."""
    hidden = {"payload", "headers"}
    return {
        k: v.isoformat()
        if hasattr(v, "isoformat")
        else str(v)
        if isinstance(v, UUID)
        else v
        for k, v in row.items()
        if k not in hidden
    }


def one_per_source(letters: Iterable[Mapping[str, Any]], *, force: bool) -> list[UUID]:
    """The dead letters to replay so that each source record is put back once, oldest first.

    Several consumers may refuse the same record (the router and audit both read
    ``referral.submitted``); a replay reaches every consumer of the topic, so one
    per record is enough. A record any of whose letters was replayed is left out
    unless ``force``.
    """
    by_source: dict[Source, list[Mapping[str, Any]]] = {}
    for letter in letters:
        source = (
            letter["original_topic"],
            letter["original_partition"],
            letter["original_offset"],
        )
        by_source.setdefault(source, []).append(letter)
    chosen = [
        min((letter["dead_lettered_at"], letter["dead_letter_id"]) for letter in group)
        for group in by_source.values()
        if force or all(letter["replayed_at"] is None for letter in group)
    ]
    return [dead_letter_id for _, dead_letter_id in sorted(chosen)]
