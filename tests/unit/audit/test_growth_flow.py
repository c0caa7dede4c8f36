"""The audit growth benchmark's referral: the rows a normal flow leaves, as audit would record them."""

import json
from datetime import UTC, datetime

from benchmarks.audit_growth import FLOW, projection, referral_flow
from benchmarks.mix import BASE
from services.audit.domain import records
from services.audit.handlers import recorder


def test_one_referral_is_one_event_per_row_of_the_flow_each_recorded_as_its_type() -> (
    None
):
    events = referral_flow(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    seen = [recorder.parse(json.dumps(event).encode()) for _, event in events]
    assert [
        records.event_type(event, topic)
        for event, (topic, _) in zip(seen, events, strict=True)
    ] == FLOW
    assert len({event.event_id for event in seen}) == len(FLOW), (
        "every event id unique, as the log requires"
    )
    assert len({event.referral_id for event in seen}) == 1
    agencies = [records.agency_of(topic, event) for topic, event in events]
    assert agencies.count("demo-pharmacy") == 2 + 2 * 3, (
        "its copy, its delivery, and each outcome with its feedback"
    )


def test_the_referral_body_is_recorded_as_a_digest_as_in_a_real_log() -> None:
    _, submitted = referral_flow(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))[0]
    recorded = json.dumps(
        records.redacted_payload(recorder.parse(json.dumps(submitted).encode()))
    )
    assert BASE["patient"]["nhs_number"] not in recorded
    assert '"redacted": true' in recorded


def test_a_million_referrals_at_twelve_rows_of_1600_bytes_is_about_nineteen_gb() -> (
    None
):
    assert projection(table_bytes=16_000_000, rows=10_000, rows_per_referral=12) == {
        "bytes_per_row": 1600,
        "gb_per_million_referrals": 19.2,
    }
