"""Queue rows: the fields operations staff work from, never the stored payload."""

from typing import Any

from services.audit.domain.queues import queue_item, with_replays

LETTER, SIBLING, OTHER = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


def row(
    event_type: str, payload: dict[str, Any], event_id: str = LETTER
) -> dict[str, Any]:
    return {
        "seq": 7,
        "event_id": event_id,
        "event_type": event_type,
        "referral_id": "0b7e6f0e-8a59-4c45-9d3c-2a4b8a8e1f00",
        "agency_id": None,
        "network_id": None,
        "recorded_at": "2026-01-01T09:00:00+00:00",
        "payload": payload,
        "patient_key": "k" * 32,
        "row_hash": "h" * 64,
    }


def test_a_dead_letter_shows_where_it_came_from_and_why_but_not_the_original_record() -> (
    None
):
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
    assert item["dead_letter_id"] == LETTER, "the id the notifier replays it by"
    assert item["consumer"] == "signpost-router"
    assert (
        item["original_topic"],
        item["original_partition"],
        item["original_offset"],
    ) == ("referral.submitted", 2, 41)
    assert item["reason"] == "schema violation: referral.needs: field required"
    assert item["replay_of"] is None, "a first refusal is no replay"
    assert "payload_base64" not in item
    assert "headers" not in item
    assert "payload" not in item
    assert "patient_key" not in item


def test_anything_shaped_like_an_nhs_number_in_a_reason_is_masked() -> None:
    item = queue_item(
        row(
            "referral.unroutable",
            {"reason": "no pharmacy for 943 476 5919 or 9434765919"},
        )
    )
    assert item["reason"] == "no pharmacy for [redacted] or [redacted]"


def test_a_missing_or_non_text_reason_is_none() -> None:
    assert (
        queue_item(row("referral.escalated", {"reason": {"nested": 1}}))["reason"]
        is None
    )
    assert queue_item(row("referral.escalated", {}))["reason"] is None


def replayed_row(ids: list[str], by: str, replay: int, at: str) -> dict[str, Any]:
    payload = {
        "dead_letter_ids": ids,
        "replayed_by": by,
        "replay": replay,
        "forced": replay > 1,
    }
    return {**row("dead_letter.replayed", payload, event_id=OTHER), "occurred_at": at}


def test_each_dead_letter_shows_its_latest_replay_and_one_never_replayed_shows_none() -> (
    None
):
    letters = [
        queue_item(row("event.dead_lettered", {"consumer": c}, event_id=i))
        for c, i in (
            ("signpost-router", LETTER),
            ("signpost-audit", SIBLING),
            ("signpost-notifier", OTHER),
        )
    ]
    replays = [
        replayed_row([LETTER, SIBLING], "operations", 1, "2026-01-01T10:00:00+00:00"),
        replayed_row(
            [LETTER, SIBLING], "ops-night-shift", 2, "2026-01-01T11:00:00+00:00"
        ),
    ]
    shown = {
        item["dead_letter_id"]: item["replayed"]
        for item in with_replays(letters, replays)
    }
    latest = {
        "at": "2026-01-01T11:00:00+00:00",
        "by": "ops-night-shift",
        "replay": 2,
        "forced": True,
    }
    assert shown == {LETTER: latest, SIBLING: latest, OTHER: None}


def test_a_replay_row_that_breaks_the_contract_shows_no_made_up_figures() -> None:
    letter = queue_item(row("event.dead_lettered", {}, event_id=LETTER))
    odd = {
        **row(
            "dead_letter.replayed",
            {"dead_letter_ids": [LETTER], "replay": "two", "replayed_by": 7},
        ),
        "occurred_at": None,
    }
    assert with_replays([letter], [odd])[0]["replayed"] == {
        "at": None,
        "by": None,
        "replay": None,
        "forced": False,
    }


def test_a_replay_refused_again_names_the_dead_letter_it_replayed_and_nothing_else_from_its_headers() -> (
    None
):
    def letter(headers: object) -> dict[str, Any]:
        return queue_item(
            row(
                "event.dead_lettered",
                {"consumer": "signpost-router", "headers": headers},
            )
        )

    assert (
        letter({"signpost-replay-of": LETTER, "traceparent": "00-abc"})["replay_of"]
        == LETTER
    )
    assert "traceparent" not in str(
        letter({"signpost-replay-of": LETTER, "traceparent": "00-abc"})
    )
    assert letter({"signpost-replay-of": "9434765919"})["replay_of"] is None, (
        "only a dead letter id is shown"
    )
    assert letter(["not", "a", "mapping"])["replay_of"] is None
