"""The audit hash chain: every way of tampering with the log is found, named, and placed at the right row."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.audit.domain.chain import (
    GENESIS,
    Anchor,
    ChainRow,
    FindingKind,
    Verification,
    Verifier,
    next_row,
    row_hash,
    verify,
)

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
EVENT_ID = UUID("1b4e28ba-2fa1-41d2-883f-0016d3cca427")


def event_id(n: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"signpost-test-event-{n}")


def chain(
    length: int = 50, payloads: list[dict[str, Any]] | None = None
) -> list[ChainRow]:
    rows: list[ChainRow] = []
    for n in range(1, length + 1):
        payload = (
            payloads[n - 1]
            if payloads
            else {"type": "referral.submitted", "n": n, "patient_key": f"pk-{n:04d}"}
        )
        at = START + timedelta(minutes=n)
        rows.append(
            next_row(
                rows[-1] if rows else None,
                event_id(n),
                "referral.submitted",
                "referral.submitted",
                at,
                json.dumps(payload),
            )
        )
    return rows


def forged(row: ChainRow, **changes: Any) -> ChainRow:
    """A row changed by someone who also recomputed its hash, as an attacker with write access would."""
    changed = replace(row, **changes)
    digest = row_hash(
        changed.prev_hash,
        changed.seq,
        changed.event_id,
        changed.event_type,
        changed.topic,
        changed.occurred_at,
        changed.payload,
    )
    return replace(changed, row_hash=digest)


def anchor_at(row: ChainRow, pruned: int | None = None) -> Anchor:
    return Anchor(
        seq=row.seq,
        row_hash=row.row_hash,
        created_at=START + timedelta(days=400),
        rows_pruned=pruned or row.seq,
    )


def only_finding(result: Verification) -> tuple[FindingKind, int]:
    assert not result.ok
    assert len(result.findings) == 1, result.findings
    return result.findings[0].kind, result.findings[0].seq


# --- the row hash ---------------------------------------------------------------------------------------------------


def test_genesis_is_sixty_four_zeros_and_row_one_links_to_it() -> None:
    assert GENESIS == "0" * 64
    assert chain(1)[0].prev_hash == GENESIS


def test_row_hash_is_sha256_hex_and_deterministic() -> None:
    args = (
        GENESIS,
        1,
        EVENT_ID,
        "referral.submitted",
        "referral.submitted",
        "2025-03-03T09:00:00+00:00",
        '{"a": 1}',
    )
    digest = row_hash(*args)
    assert digest == row_hash(*args)
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_every_field_changes_the_hash() -> None:
    base = [
        GENESIS,
        7,
        str(EVENT_ID),
        "referral.routed",
        "referral.routed",
        "2025-03-03T09:00:00+00:00",
        '{"a": 1}',
    ]
    variants = [
        "1" * 64,
        8,
        str(uuid5(NAMESPACE_URL, "other")),
        "referral.unroutable",
        "referral.unroutable",
        "2025-03-03T09:00:01+00:00",
        '{"a": 2}',
    ]
    digests = {row_hash(*base)}  # type: ignore[arg-type]
    for index, variant in enumerate(variants):
        digests.add(row_hash(*[*base[:index], variant, *base[index + 1 :]]))  # type: ignore[arg-type]
    assert len(digests) == len(variants) + 1


def test_fields_cannot_be_shifted_across_a_boundary() -> None:
    # With a "|" join these two rows would hash alike; each field is encoded on its own.
    at, payload = "2025-03-03T09:00:00+00:00", "{}"
    assert row_hash(GENESIS, 1, EVENT_ID, "a|b", "c", at, payload) != row_hash(
        GENESIS, 1, EVENT_ID, "a", "b|c", at, payload
    )


def test_the_payload_hashes_by_content_not_spelling_so_jsonb_text_verifies() -> None:
    at = "2025-03-03T09:00:00+00:00"
    recorder_text = json.dumps(
        {"zeta": "café", "id": 1, "nested": {"bb": [1.5, None, True], "a": "x"}},
        sort_keys=True,
    )
    jsonb_text = (
        '{"id": 1, "zeta": "café", "nested": {"a": "x", "bb": [1.5, null, true]}}'
    )
    escaped_text = (
        '{"id":1,"nested":{"a":"x","bb":[15e-1,null,true]},"zeta":"caf\\u00e9"}'
    )
    digests = {
        row_hash(GENESIS, 1, EVENT_ID, "t", "t", at, text)
        for text in (recorder_text, jsonb_text, escaped_text)
    }
    assert len(digests) == 1


def test_large_numbers_are_never_rounded_together() -> None:
    at = "2025-03-03T09:00:00+00:00"
    one = row_hash(
        GENESIS, 1, EVENT_ID, "t", "t", at, '{"n": 12345678901234567890123456789012345}'
    )
    other = row_hash(
        GENESIS, 1, EVENT_ID, "t", "t", at, '{"n": 12345678901234567890123456789012346}'
    )
    assert one != other


def test_the_time_hashes_as_an_instant_whatever_its_offset() -> None:
    payload = "{}"
    bst = row_hash(GENESIS, 1, EVENT_ID, "t", "t", "2025-06-02T10:00:00+01:00", payload)
    utc = row_hash(
        GENESIS, 1, EVENT_ID, "t", "t", datetime(2025, 6, 2, 9, 0, tzinfo=UTC), payload
    )
    assert bst == utc


def test_event_id_hashes_the_same_as_uuid_or_text_in_any_case() -> None:
    at = "2025-03-03T09:00:00+00:00"
    digests = {
        row_hash(GENESIS, 1, value, "t", "t", at, "{}")
        for value in (EVENT_ID, str(EVENT_ID), str(EVENT_ID).upper())
    }
    assert len(digests) == 1


# --- an intact chain ------------------------------------------------------------------------------------------------


def test_an_intact_chain_of_fifty_rows_verifies() -> None:
    result = verify(chain(50), None)
    assert result.ok
    assert (result.rows_checked, result.first_seq, result.last_seq) == (50, 1, 50)
    assert result.findings == ()
    assert result.summary == "chain intact: 50 rows (seq 1–50) verified"


def test_an_empty_log_verifies() -> None:
    result = verify([], None)
    assert result.ok
    assert (result.rows_checked, result.first_seq, result.last_seq) == (0, None, None)


def test_verify_reads_the_rows_once_as_a_stream() -> None:
    rows = chain(50)
    result = verify(iter(rows), None)
    assert result.ok
    assert result.rows_checked == 50


# --- edited ---------------------------------------------------------------------------------------------------------


@pytest.mark.hazard("HAZ-020")
def test_an_edited_payload_is_found_at_its_row() -> None:
    rows = chain(50)
    rows[41] = replace(rows[41], payload=rows[41].payload.replace("pk-0042", "pk-9999"))
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.EDITED, 42)
    assert (
        result.findings[0].message
        == "row 42 was edited: its content no longer matches its hash"
    )


def test_an_edited_event_type_is_found_at_its_row() -> None:
    rows = chain(50)
    rows[9] = replace(rows[9], event_type="referral.cancelled")
    assert only_finding(verify(rows, None)) == (FindingKind.EDITED, 10)


def test_a_payload_that_is_no_longer_json_is_found_as_edited() -> None:
    rows = chain(50)
    rows[4] = replace(rows[4], payload=rows[4].payload[:-1])
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.EDITED, 5)
    assert "no longer well-formed" in result.findings[0].message


def test_an_edit_with_its_hash_recomputed_breaks_the_link_to_the_next_row() -> None:
    rows = chain(50)
    rows[19] = forged(rows[19], payload='{"n": 20, "patient_key": "someone-else"}')
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.EDITED, 21)
    assert (
        result.findings[0].message
        == "row 21 does not link to row 20: one of them was edited and its hash recomputed"
    )


# --- deleted --------------------------------------------------------------------------------------------------------


@pytest.mark.hazard("HAZ-020")
def test_a_row_deleted_from_the_middle_is_named() -> None:
    rows = chain(50)
    del rows[24]
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.DELETED, 25)
    assert result.findings[0].message == "row 25 is missing (deleted)"


def test_a_run_of_deleted_rows_is_named_as_a_range() -> None:
    rows = chain(50)
    del rows[42:45]
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.DELETED, 43)
    assert result.findings[0].end_seq == 45
    assert result.findings[0].message == "rows 43–45 are missing (deleted)"


def test_the_first_row_deleted_is_found_against_genesis() -> None:
    rows = chain(50)
    result = verify(rows[1:], None)
    assert only_finding(result) == (FindingKind.DELETED, 1)


def test_a_deleted_row_whose_followers_were_renumbered_to_hide_the_gap_is_named_once() -> (
    None
):
    rows = chain(50)
    renumbered = rows[:24] + [replace(row, seq=row.seq - 1) for row in rows[25:]]
    result = verify(renumbered, None)
    assert only_finding(result) == (FindingKind.DELETED, 25)


def test_deleting_the_last_row_cannot_be_seen_from_the_chain_alone() -> None:
    rows = chain(50)
    assert verify(rows[:-1], None).ok


def test_deleting_the_last_row_is_found_against_the_recorded_head() -> None:
    rows = chain(50)
    head = (50, rows[-1].row_hash)
    assert verify(rows, None, expected_head=head).ok
    result = verify(rows[:-1], None, expected_head=head)
    assert only_finding(result) == (FindingKind.DELETED, 50)
    assert (
        result.findings[0].message
        == "row 50 is missing from the end of the log (deleted): the recorded head is row 50"
    )


def test_deleting_several_tail_rows_is_one_range_against_the_recorded_head() -> None:
    rows = chain(50)
    result = verify(rows[:46], None, expected_head=(50, rows[-1].row_hash))
    assert only_finding(result) == (FindingKind.DELETED, 47)
    assert result.findings[0].end_seq == 50


def test_rows_written_after_the_recorded_head_are_growth_not_a_finding() -> None:
    rows = chain(50)
    assert verify(rows, None, expected_head=(40, rows[39].row_hash)).ok


def test_a_tail_rewritten_and_rehashed_does_not_match_the_recorded_head() -> None:
    rows = chain(50)
    rows[-1] = forged(rows[-1], payload='{"rewritten": true}')
    assert verify(rows, None).ok  # the chain alone cannot tell
    assert only_finding(
        verify(rows, None, expected_head=(50, chain(50)[-1].row_hash))
    ) == (FindingKind.ANCHOR_MISMATCH, 50)


# --- inserted -------------------------------------------------------------------------------------------------------


def test_a_forged_row_inserted_under_a_duplicate_seq_is_named() -> None:
    rows = chain(50)
    fake = next_row(
        rows[24],
        event_id(999),
        "assignment.outcome",
        "assignment.outcome",
        START,
        '{"outcome": "completed"}',
    )
    result = verify([*rows[:25], fake, *rows[25:]], None)
    assert only_finding(result) == (FindingKind.INSERTED, 26)
    assert str(event_id(999)) in result.findings[0].message


def test_a_forged_duplicate_is_named_whichever_copy_comes_first() -> None:
    rows = chain(50)
    fake = next_row(
        rows[24],
        event_id(999),
        "assignment.outcome",
        "assignment.outcome",
        START,
        '{"outcome": "completed"}',
    )
    result = verify([*rows[:26], fake, *rows[26:]], None)
    assert only_finding(result) == (FindingKind.INSERTED, 26)
    assert str(event_id(999)) in result.findings[0].message


def test_a_forged_row_with_a_seq_that_skips_ahead_is_named() -> None:
    rows = chain(50)
    fake = forged(rows[25], seq=90, prev_hash=rows[24].row_hash, event_id=event_id(999))
    result = verify([*rows[:25], fake, *rows[25:]], None)
    assert only_finding(result) == (FindingKind.INSERTED, 90)


def test_a_forged_row_inserted_with_the_rest_renumbered_up_is_named_once() -> None:
    rows = chain(50)
    fake = next_row(
        rows[24],
        event_id(999),
        "assignment.outcome",
        "assignment.outcome",
        START,
        '{"outcome": "completed"}',
    )
    renumbered = [
        *rows[:25],
        fake,
        *(replace(row, seq=row.seq + 1) for row in rows[25:]),
    ]
    result = verify(renumbered, None, expected_head=(50, rows[-1].row_hash))
    assert only_finding(result) == (FindingKind.INSERTED, 26)


def test_a_second_copy_of_an_old_row_is_inserted_not_reordered() -> None:
    rows = chain(50)
    result = verify([*rows, rows[9]], None)
    assert only_finding(result) == (FindingKind.INSERTED, 10)


# --- reordered ------------------------------------------------------------------------------------------------------


@pytest.mark.hazard("HAZ-020")
def test_two_rows_swapped_in_place_are_named() -> None:
    rows = chain(50)
    rows[29], rows[30] = rows[30], rows[29]
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.REORDERED, 30)
    assert result.findings[0].message == "row 30 is out of order: it comes after row 31"


def test_two_rows_that_exchanged_seq_numbers_are_named() -> None:
    rows = chain(50)
    rows[29], rows[30] = replace(rows[30], seq=30), replace(rows[29], seq=31)
    result = verify(rows, None)
    assert only_finding(result) == (FindingKind.REORDERED, 30)
    assert (
        result.findings[0].message
        == "rows 30 and 31 swapped places: their seq numbers were exchanged"
    )


def test_a_row_moved_far_down_is_reordered_not_deleted() -> None:
    rows = chain(50)
    moved = rows.pop(9)
    result = verify([*rows[:30], moved, *rows[30:]], None)
    assert only_finding(result) == (FindingKind.REORDERED, 10)


# --- anchors after retention ----------------------------------------------------------------------------------------


def test_a_pruned_log_verifies_from_its_anchor() -> None:
    rows = chain(50)
    result = verify(rows[20:], anchor_at(rows[19]))
    assert result.ok
    assert (result.rows_checked, result.first_seq, result.last_seq) == (30, 21, 50)


def test_a_pruned_log_without_its_anchor_is_missing_its_first_rows() -> None:
    rows = chain(50)
    result = verify(rows[20:], None)
    assert only_finding(result) == (FindingKind.DELETED, 1)
    assert result.findings[0].end_seq == 20
    assert "verify from its anchor" in result.findings[0].message


def test_an_anchor_with_the_wrong_hash_is_a_mismatch() -> None:
    rows = chain(50)
    wrong = replace(anchor_at(rows[19]), row_hash=rows[18].row_hash)
    result = verify(rows[20:], wrong)
    assert only_finding(result) == (FindingKind.ANCHOR_MISMATCH, 21)


def test_an_anchor_with_the_wrong_seq_is_a_mismatch() -> None:
    rows = chain(50)
    wrong = replace(anchor_at(rows[19]), seq=19)
    result = verify(rows[20:], wrong)
    assert only_finding(result) == (FindingKind.ANCHOR_MISMATCH, 21)


def test_rows_deleted_just_after_the_anchor_are_deleted_not_a_mismatch() -> None:
    rows = chain(50)
    result = verify(rows[22:], anchor_at(rows[19]))
    assert only_finding(result) == (FindingKind.DELETED, 21)
    assert result.findings[0].end_seq == 22


def test_an_anchor_is_checked_against_its_row_when_the_pruned_rows_are_still_there() -> (
    None
):
    rows = chain(50)
    assert verify(rows, anchor_at(rows[19])).ok
    wrong = replace(anchor_at(rows[19]), row_hash=rows[18].row_hash)
    assert only_finding(verify(rows, wrong)) == (FindingKind.ANCHOR_MISMATCH, 20)


# --- the report -----------------------------------------------------------------------------------------------------


def test_findings_are_capped_but_all_counted() -> None:
    rows = [replace(row, payload='{"tampered": true}') for row in chain(50)]
    result = verify(rows, None, max_findings=10)
    assert not result.ok
    assert len(result.findings) == 10
    assert result.findings_total == 50
    assert [f.seq for f in result.findings] == list(range(1, 11))
    assert result.summary.startswith(
        "chain broken: 50 findings in 50 rows (seq 1–50) (40 more not listed); first: row 1 was edited"
    )


def test_findings_are_listed_in_seq_order() -> None:
    rows = chain(50)
    rows[39] = replace(rows[39], payload="{}")
    del rows[9]
    result = verify(rows, None)
    assert [(f.kind, f.seq) for f in result.findings] == [
        (FindingKind.DELETED, 10),
        (FindingKind.EDITED, 40),
    ]


# --- fed in pieces, as the database cursor reads them -------------------------------------------------------------


def in_pieces(
    rows: list[ChainRow],
    size: int,
    anchor: Anchor | None = None,
    head: tuple[int, str] | None = None,
) -> Verification:
    verifier = Verifier(anchor, expected_head=head)
    for start in range(0, len(rows), size):
        verifier.feed(rows[start : start + size])
    return verifier.finish()


def _exchanged(rows: list[ChainRow]) -> list[ChainRow]:
    rows[29], rows[30] = replace(rows[30], seq=30), replace(rows[29], seq=31)
    return rows


def _duplicate(rows: list[ChainRow]) -> list[ChainRow]:
    fake = next_row(
        rows[29],
        event_id(999),
        "assignment.outcome",
        "assignment.outcome",
        START,
        '{"outcome": "completed"}',
    )
    return [
        *rows[:30],
        fake,
        *rows[30:],
    ]  # the forged copy first: only the row after shows which one is genuine


def _renumbered_up(rows: list[ChainRow]) -> list[ChainRow]:
    fake = next_row(
        rows[29],
        event_id(999),
        "assignment.outcome",
        "assignment.outcome",
        START,
        '{"outcome": "completed"}',
    )
    return [*rows[:30], fake, *(replace(row, seq=row.seq + 1) for row in rows[30:])]


def _moved_down(rows: list[ChainRow]) -> list[ChainRow]:
    moved = rows.pop(9)
    return [*rows[:30], moved, *rows[30:]]


def _tail_deleted(rows: list[ChainRow]) -> list[ChainRow]:
    return rows[:45]


# Each is decided by a row and its successor, so a split between the two is where a piecewise reader could go wrong.
TAMPERINGS = {
    "exchanged": _exchanged,
    "duplicate": _duplicate,
    "renumbered up": _renumbered_up,
    "moved down": _moved_down,
    "tail deleted": _tail_deleted,
    "intact": lambda rows: rows,
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
@pytest.mark.parametrize("size", [1, 2, 3, 30, 31, 1000])
def test_rows_fed_in_pieces_of_any_size_verify_as_one_stream(
    tamper: Any, size: int
) -> None:
    original = chain(50)
    rows = tamper(list(original))
    head = (50, original[-1].row_hash)
    whole = verify(rows, None, expected_head=head)
    assert in_pieces(rows, size, head=head) == whole
    assert whole.ok == (rows == original)


def test_a_pruned_log_fed_in_pieces_verifies_from_its_anchor() -> None:
    rows = chain(50)
    result = in_pieces(rows[20:], 7, anchor_at(rows[19]))
    assert result.ok
    assert (result.rows_checked, result.first_seq, result.last_seq) == (30, 21, 50)


def test_empty_pieces_change_nothing_and_a_finished_verifier_takes_no_more() -> None:
    rows = chain(10)
    verifier = Verifier()
    for piece in ([], rows[:4], [], rows[4:], []):
        verifier.feed(piece)
    assert verifier.finish() == verify(rows)
    with pytest.raises(RuntimeError, match="finished"):
        verifier.feed(rows)
    with pytest.raises(RuntimeError, match="finished"):
        verifier.finish()


# --- any edit at all ------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _same_json(one: str, other: str) -> bool:
    try:
        return bool(json.loads(one) == json.loads(other))
    except ValueError:
        return False


@given(
    payloads=st.lists(
        st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4),
        min_size=3,
        max_size=6,
    ),
    data=st.data(),
)
def test_any_single_byte_edit_of_any_payload_is_found_at_that_row(
    payloads: list[dict[str, Any]], data: st.DataObject
) -> None:
    rows = chain(len(payloads), payloads)
    index = data.draw(st.integers(0, len(rows) - 1), label="row")
    raw = rows[index].payload.encode()
    position = data.draw(st.integers(0, len(raw) - 1), label="byte")
    byte = data.draw(
        st.integers(0, 255).filter(lambda b: b != raw[position]), label="new byte"
    )
    edited = (raw[:position] + bytes([byte]) + raw[position + 1 :]).decode(
        "utf-8", errors="surrogateescape"
    )
    # Respacing, or 1e-07 spelt 1E-07, is the same JSON: jsonb could not store the difference either.
    assume(not _same_json(edited, rows[index].payload))
    rows[index] = replace(rows[index], payload=edited)
    result = verify(rows, None)
    assert [(f.kind, f.seq) for f in result.findings] == [
        (FindingKind.EDITED, index + 1)
    ]
