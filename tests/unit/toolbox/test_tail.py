"""``signpost audit tail`` reads server-sent events and prints one line per event."""

import json

from toolbox.audit_tail import SseEvent, line_of, parse_sse


def test_events_are_split_on_blank_lines_and_pings_are_skipped() -> None:
    stream = [
        ": ping",
        "",
        "id: 7",
        "event: referral.routed",
        'data: {"seq": 7}',
        "",
        "id: 8",
        "data: {",
        "data: }",
        "",
    ]
    events = list(parse_sse(iter(stream)))
    assert [(e.id, e.event, e.data) for e in events] == [
        ("7", "referral.routed", ['{"seq": 7}']),
        ("8", None, ["{", "}"]),
    ]


def test_an_unfinished_event_at_the_end_of_the_stream_is_not_shown() -> None:
    assert list(parse_sse(iter(["id: 9", 'data: {"seq": 9}']))) == []


def test_a_line_names_the_event_the_referral_and_the_agency_and_nothing_else() -> None:
    row = {
        "seq": 12,
        "recorded_at": "2026-11-25T09:00:01.123456+00:00",
        "event_type": "assignment.delivered",
        "referral_id": "r-1",
        "agency_id": "demo-pharmacy",
        "payload": {"patient": "never shown"},
    }
    line = line_of(
        SseEvent(id="12", event="assignment.delivered", data=[json.dumps(row)])
    )
    expected = [
        "#12",
        "2026-11-25T09:00:01.123Z",
        "assignment.delivered",
        "referral",
        "r-1",
        "agency",
        "demo-pharmacy",
    ]
    assert line.split() == expected


def test_windows_line_ends_and_data_without_a_space_parse_alike() -> None:
    events = list(parse_sse(iter(["id: 3\r", "data:{}\r", "\r"])))
    assert [(e.id, e.data) for e in events] == [("3", ["{}"])]


def test_an_id_without_data_moves_the_resume_point_and_shows_nothing() -> None:
    events = list(parse_sse(iter(["id: 40", "", ": ping", ""])))
    assert [(e.id, e.data) for e in events] == [("40", [])]


def test_an_id_holding_a_null_is_ignored_as_the_standard_says() -> None:
    events = list(parse_sse(iter(["id: 4\0", 'data: {"seq": 4}', ""])))
    assert [e.id for e in events] == [None]


def test_an_event_about_no_referral_or_agency_leaves_those_out() -> None:
    row = {
        "seq": 5,
        "recorded_at": "2026-11-25T09:00:00+00:00",
        "event_type": "access.recorded",
        "referral_id": None,
    }
    line = line_of(SseEvent(id="5", data=[json.dumps(row)]))
    assert line.split() == ["#5", "2026-11-25T09:00:00.000Z", "access.recorded"]


def test_times_are_shown_in_utc_at_one_width_whatever_offset_and_precision_arrive() -> (
    None
):
    def shown(recorded_at: str) -> str:
        return line_of(
            SseEvent(
                data=[
                    json.dumps(
                        {"seq": 1, "recorded_at": recorded_at, "event_type": "t"}
                    )
                ]
            )
        ).split("  ")[1]

    assert shown("2026-06-01T10:00:00.5+01:00") == "2026-06-01T09:00:00.500Z"
    assert shown("2026-06-01T09:00:00.999999+00:00") == "2026-06-01T09:00:00.999Z"
    assert shown("not a time") == "not a time", "shown as sent rather than lost"
