"""The scale-out run's checks on hand-made inputs: each must pass what is right and name what is wrong."""

from datetime import UTC, datetime, timedelta

from benchmarks.chaos_counts import Once
from benchmarks.scale_checks import Record, Timer, leader_moved, once, order, timers

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(
    offset: int,
    key: str | None,
    seconds: float | None,
    event_id: str | None = None,
    topic: str = "referral.routed",
    partition: int = 0,
    referral: str | None = None,
) -> Record:
    return Record(
        topic,
        partition,
        offset,
        key,
        event_id or f"e{topic}{partition}{offset}",
        None if seconds is None else at(seconds),
        referral_id=referral,
    )


def test_once_counts_each_expected_key_exactly_once() -> None:
    assert once({"a", "b"}, ["a", "b"]) == Once(expected=2)


def test_once_names_missing_doubled_and_unasked_keys() -> None:
    assert once({"a", "b", "c"}, ["a", "a", "b", "x"]) == Once(
        expected=3, missing=1, doubled=1, extra=1
    )


def test_order_passes_each_key_rising_even_when_keys_interleave() -> None:
    result = order(
        [
            record(0, "p1", 1),
            record(1, "p2", 0.5),
            record(2, "p1", 2),
            record(3, "p2", 3),
        ]
    )
    assert (result.breaks, result.keys, result.records) == ((), 2, 4)


def test_order_keeps_each_referral_of_a_patient_in_order_and_lets_two_referrals_interleave() -> (
    None
):
    """Two instances handle two referrals of one patient side by side: only within a referral is order promised."""
    interleaved = [
        record(0, "p1", 1, referral="r1"),
        record(1, "p1", 3, referral="r2"),
        record(2, "p1", 2, referral="r1"),
    ]
    assert order(interleaved).breaks == ()
    assert len(order(interleaved, per_referral=False).breaks) == 1, (
        "across referrals the interleaving is still seen"
    )
    backwards = [
        record(0, "p1", 2, referral="r1"),
        record(1, "p1", 3, referral="r2"),
        record(2, "p1", 1, referral="r1"),
    ]
    assert [b.offset for b in order(backwards).breaks] == [2]


def test_order_follows_each_assignment_of_a_referral_on_its_own() -> None:
    """An agency's outcome carries its own time; another assignment's event of the same referral may come between."""

    def of(offset: int, seconds: float, assignment: str) -> Record:
        when = at(seconds)
        return Record(
            "assignment.outcome",
            0,
            offset,
            "p1",
            f"e{offset}",
            when,
            referral_id="r1",
            assignment_id=assignment,
        )

    assert order([of(0, 1, "a1"), of(1, 3, "a2"), of(2, 2, "a1")]).breaks == ()
    assert [
        b.offset for b in order([of(0, 2, "a1"), of(1, 3, "a2"), of(2, 1, "a1")]).breaks
    ] == [2]


def test_order_allows_two_records_of_one_moment() -> None:
    assert order([record(0, "p1", 1), record(1, "p1", 1)]).breaks == ()


def test_order_finds_a_patient_record_published_after_a_later_one() -> None:
    result = order(
        [record(0, "p1", 1), record(1, "p1", 3), record(2, "p2", 0), record(3, "p1", 2)]
    )
    assert [(b.key, b.offset, b.occurred_at, b.after) for b in result.breaks] == [
        ("p1", 3, at(2), at(3))
    ]
    assert "referral.routed key p1… offset 3" in str(result.breaks[0])


def test_order_reads_by_offset_not_by_arrival() -> None:
    """Records come from a reader in any order; a topic's order is its offsets."""
    assert (
        order([record(2, "p1", 3), record(0, "p1", 1), record(1, "p1", 2)]).breaks == ()
    )
    assert len(order([record(2, "p1", 1), record(0, "p1", 2)]).breaks) == 1


def test_order_keeps_topics_and_partitions_apart() -> None:
    """The same key on another topic has its own order (a routed event is not a submitted one)."""
    later_elsewhere = [
        record(0, "p1", 5, topic="referral.submitted"),
        record(0, "p1", 1, topic="referral.routed"),
    ]
    assert order(later_elsewhere).breaks == ()


def test_order_ignores_a_redelivered_copy_but_not_a_new_event() -> None:
    redelivered = [
        record(0, "p1", 1, "a"),
        record(1, "p1", 2, "b"),
        record(2, "p1", 1, "a"),
        record(3, "p1", 2, "b"),
    ]
    result = order(redelivered)
    assert (result.breaks, result.redelivered, result.records) == ((), 2, 2)
    assert len(order([record(0, "p1", 2, "a"), record(1, "p1", 1, "c")]).breaks) == 1


def test_order_leaves_out_records_without_a_key_or_a_time() -> None:
    result = order(
        [
            record(0, "p1", 3),
            record(1, None, 1),
            record(2, "p1", None),
            record(3, "p1", 4),
        ]
    )
    assert (result.breaks, result.records) == ((), 2)


IDS = {
    ("a1", "acceptance"): "x1",
    ("a1", "first_contact"): "x2",
    ("a2", "acceptance"): "x3",
}


def test_timers_each_fired_once_or_cleared() -> None:
    rows = [
        Timer("a1", "acceptance", fired=True, cleared=False),
        Timer("a1", "first_contact", fired=False, cleared=True),
        Timer("a2", "acceptance", fired=True, cleared=False),
    ]
    result = timers(rows, IDS, on_topic=["x1", "x3"], audited=["x1", "x3"])
    assert (
        result.timers,
        result.fired,
        result.cleared,
        result.undecided,
        result.both,
    ) == (3, 2, 1, 0, 0)
    assert result.escalations == result.audited == Once(expected=2)


def test_timers_find_one_lost_one_taken_twice_and_a_firing_never_published() -> None:
    rows = [
        Timer("a1", "acceptance", fired=True, cleared=True),
        Timer("a1", "first_contact", fired=False, cleared=False),
        Timer("a2", "acceptance", fired=True, cleared=False),
    ]
    result = timers(rows, IDS, on_topic=["x1", "x1", "x2"], audited=["x1", "x1"])
    assert (result.undecided, result.both) == (1, 1)
    assert result.escalations == Once(expected=2, missing=1, extra=1), (
        "x3 fired unpublished; x2 published, never fired"
    )
    assert result.audited == Once(expected=2, missing=1, doubled=1)


def test_leader_moved_only_from_the_killed_instance_to_another() -> None:
    assert leader_moved("intake-1", "intake-2", killed="intake-1") == ""
    assert "nobody took" in leader_moved("intake-1", None, killed="intake-1")
    assert "still holds" in leader_moved("intake-1", "intake-1", killed="intake-1")
    assert "not by intake-1" in leader_moved("intake-2", "intake-2", killed="intake-1")
