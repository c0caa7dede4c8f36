"""Consumer lag arithmetic: end offset minus committed offset, per group, topic and agency."""

from services.audit.domain.lag import lag_report, subject_of


def test_lag_is_end_minus_committed_summed_over_a_topics_partitions() -> None:
    committed = {
        "signpost-router": {("referral.submitted", 0): 10, ("referral.submitted", 1): 4}
    }
    ends = {("referral.submitted", 0): 12, ("referral.submitted", 1): 4}
    [group] = lag_report(committed, ends)
    assert group["group_id"] == "signpost-router"
    assert group["lag"] == 2
    assert group["subjects"] == [
        {
            "kind": "topic",
            "name": "referral.submitted",
            "lag": 2,
            "partitions": 2,
            "topics": ["referral.submitted"],
        }
    ]


def test_an_agencys_topics_count_together_under_the_agency() -> None:
    committed = {
        "signpost-audit": {
            ("agency.demo-pharmacy.referrals", 0): 1,
            ("agency.demo-pharmacy.outcomes", 2): 0,
            ("referral.routed", 0): 5,
        }
    }
    ends = {
        ("agency.demo-pharmacy.referrals", 0): 4,
        ("agency.demo-pharmacy.outcomes", 2): 2,
        ("referral.routed", 0): 5,
    }
    [group] = lag_report(committed, ends)
    assert group["lag"] == 5
    agency, topic = group["subjects"]
    assert (agency["kind"], agency["name"], agency["lag"], agency["partitions"]) == (
        "agency",
        "demo-pharmacy",
        5,
        2,
    )
    assert agency["topics"] == [
        "agency.demo-pharmacy.outcomes",
        "agency.demo-pharmacy.referrals",
    ]
    assert (topic["kind"], topic["name"], topic["lag"]) == (
        "topic",
        "referral.routed",
        0,
    )


def test_a_partition_without_a_committed_offset_counts_from_zero() -> None:
    [group] = lag_report({"g": {("t", 0): -1}}, {("t", 0): 7})
    assert group["lag"] == 7


def test_a_partition_with_an_unknown_end_offset_is_left_out_not_guessed() -> None:
    [group] = lag_report({"g": {("t", 0): 3, ("u", 0): 1}}, {("t", 0): 3})
    assert [s["name"] for s in group["subjects"]] == ["t"]


def test_a_committed_offset_past_the_end_is_no_lag_not_negative_lag() -> None:
    [group] = lag_report({"g": {("t", 0): 9}}, {("t", 0): 5})
    assert group["lag"] == 0


def test_groups_come_sorted_and_a_group_with_no_offsets_still_appears() -> None:
    report = lag_report({"signpost-router": {}, "signpost-audit": {}}, {})
    assert [(g["group_id"], g["lag"], g["subjects"]) for g in report] == [
        ("signpost-audit", 0, []),
        ("signpost-router", 0, []),
    ]


def test_only_agency_topics_with_an_agency_segment_are_grouped_by_agency() -> None:
    assert subject_of("agency.age-uk.referrals") == ("agency", "age-uk")
    assert subject_of("agency.odd") == ("topic", "agency.odd")
    assert subject_of("signpost.deadletter") == ("topic", "signpost.deadletter")
