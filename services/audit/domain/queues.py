"""What an operations queue shows of a row: when, which referral, which agency, why; never the stored payload.

A dead letter keeps its original record in base64, and that record may be a
referral with a patient's name in it, so a queue sends only safe fields, and
free text with anything shaped like an NHS number masked.
"""

import re
from typing import Any
from uuid import UUID

# Events after which an unroutable referral no longer needs a person to route it.
# A hand assignment is published as referral.routed, so it closes the item too.
CLOSES_UNROUTABLE = ("referral.routed", "assignment.delivered", "referral.cancelled")
_NHS_NUMBER_SHAPE = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")


def _safe_text(value: object) -> str | None:
    """A free-text reason, with anything shaped like an NHS number masked."""
    return (
        _NHS_NUMBER_SHAPE.sub("[redacted]", value)[:500]
        if isinstance(value, str)
        else None
    )


def _uuid_text(value: object) -> str | None:
    try:
        return str(UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def queue_item(row: dict[str, Any]) -> dict[str, Any]:
    """The fields a queue shows: when, which referral, which agency, why. Never the payload."""
    payload = row["payload"]
    item = {
        k: row[k]
        for k in (
            "seq",
            "event_type",
            "referral_id",
            "agency_id",
            "network_id",
            "recorded_at",
        )
    }
    item["reason"] = _safe_text(payload.get("reason"))
    if row["event_type"] == "event.dead_lettered":
        # The notifier keeps each dead letter under the event id it was published with: the id to replay.
        item["dead_letter_id"] = row["event_id"]
        item["consumer"] = _safe_text(payload.get("consumer"))
        item["original_topic"] = _safe_text(payload.get("original_topic"))
        for key in ("original_partition", "original_offset"):
            item[key] = payload[key] if isinstance(payload.get(key), int) else None
        # A replayed record that was refused again says which dead letter it was a replay of.
        headers = (
            payload.get("headers") if isinstance(payload.get("headers"), dict) else {}
        )
        item["replay_of"] = _uuid_text(headers.get("signpost-replay-of"))
    return item


def with_replays(
    items: list[dict[str, Any]], replays: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each dead letter with its latest replay (``replays`` in audit order), or ``None`` if it was never put back."""
    latest: dict[str, dict[str, Any]] = {}
    for row in replays:
        payload = row["payload"]
        replay = {
            "at": row["occurred_at"],
            "by": _safe_text(payload.get("replayed_by")),
            "replay": payload.get("replay")
            if isinstance(payload.get("replay"), int)
            else None,
            "forced": payload.get("forced") is True,
        }
        for dead_letter_id in payload.get("dead_letter_ids") or []:
            latest[str(dead_letter_id)] = replay
    return [
        {**item, "replayed": latest.get(str(item.get("dead_letter_id")))}
        for item in items
    ]
