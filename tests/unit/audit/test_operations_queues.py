"""Queue rows: the fields operations staff work from, never the stored payload."""

from typing import Any

from services.audit.operations import queue_item


def row(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": 7,
        "event_type": event_type,
        "referral_id": "0b7e6f0e-8a59-4c45-9d3c-2a4b8a8e1f00",
        "agency_id": None,
        "network_id": None,
        "recorded_at": "2026-01-01T09:00:00+00:00",
        "payload": payload,
        "patient_key": "k" * 32,
        "row_hash": "h" * 64,
    }


def test_a_dead_letter_shows_where_it_came_from_and_why_but_not_the_original_record() -> None:
    item = queue_item(
        row(
            "event.dead_lettered",
            {
                "consumer": "signpost-router",
                "original_topic": "referral.submitted",
                "original_partition": 2,
                "original_offset": 41,
                "reason": "schema violation: referral.needs: field required",
                "payload_base64": "eyJuaHNfbnVtYmVyIjogIjk0MzQ3NjU5MTkifQ==",
                "headers": {"correlation-id": "c"},
            },
        )
    )
    assert item["consumer"] == "signpost-router"
    assert (item["original_topic"], item["original_partition"], item["original_offset"]) == ("referral.submitted", 2, 41)
    assert item["reason"] == "schema violation: referral.needs: field required"
    assert "payload_base64" not in item
    assert "headers" not in item
    assert "payload" not in item
    assert "patient_key" not in item


def test_anything_shaped_like_an_nhs_number_in_a_reason_is_masked() -> None:
    item = queue_item(row("referral.unroutable", {"reason": "no pharmacy for 943 476 5919 or 9434765919"}))
    assert item["reason"] == "no pharmacy for [redacted] or [redacted]"


def test_a_missing_or_non_text_reason_is_none() -> None:
    assert queue_item(row("referral.escalated", {"reason": {"nested": 1}}))["reason"] is None
    assert queue_item(row("referral.escalated", {}))["reason"] is None
