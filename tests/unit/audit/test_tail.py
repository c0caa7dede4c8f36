"""``signpost audit tail`` reads server-sent events and prints one line per event."""

import json

from services.audit.tail import SseEvent, line_of, parse_sse


def test_events_are_split_on_blank_lines_and_pings_are_skipped() -> None:
    stream = [": ping", "", "id: 7", "event: referral.routed", 'data: {"seq": 7}', "", "id: 8", "data: {", "data: }", ""]
    events = list(parse_sse(iter(stream)))
    assert [(e.id, e.event, e.data) for e in events] == [("7", "referral.routed", ['{"seq": 7}']), ("8", None, ["{", "}"])]


def test_an_unfinished_event_at_the_end_of_the_stream_is_not_shown() -> None:
    assert list(parse_sse(iter(["id: 9", 'data: {"seq": 9}']))) == []


def test_a_line_names_the_event_the_referral_and_the_agency_and_nothing_else() -> None:
    row = {"seq": 12, "recorded_at": "2026-11-25T09:00:01.123456+00:00", "event_type": "assignment.delivered",
           "referral_id": "r-1", "agency_id": "demo-pharmacy", "payload": {"patient": "never shown"}}  # fmt: skip
    line = line_of(SseEvent(id="12", event="assignment.delivered", data=[json.dumps(row)]))
    expected = ["#12", "2026-11-25T09:00:01.123", "assignment.delivered", "referral", "r-1", "agency", "demo-pharmacy"]
    assert line.split() == expected
