"""The log as chains per shard: each chain verifies on its own, and a tamper anywhere is named by chain and row."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.audit.domain.chain import (
    GENESIS,
    LEGACY,
    Anchor,
    ChainRow,
    FindingKind,
    next_row,
)
from services.audit.domain.chains import (
    KEYLESS,
    NO_LEGACY,
    SHARDS,
    LogVerifier,
    Seal,
    chain_name,
    chain_of,
)
from tests.unit.audit.test_chain import _same_json, json_values

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event_id(n: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"signpost-chains-test-{n}"))


def log(
    lengths: dict[int, int],
    seal: Seal = NO_LEGACY,
    payloads: list[dict[str, Any]] | None = None,
) -> list[ChainRow]:
    """Rows of several chains, written interleaved as concurrent writers would (the log seq runs across chains),
    returned chain by chain in position order, as verification reads them."""
    heads: dict[int, ChainRow | None] = dict.fromkeys(lengths)
    by_chain: dict[int, list[ChainRow]] = {c: [] for c in lengths}
    seq = seal.seq
    for step in range(max(lengths.values(), default=0)):
        for chain in lengths:
            if step >= lengths[chain]:
                continue
            seq += 1
            payload = (
                payloads[seq % len(payloads)]
                if payloads
                else {"n": seq, "patient_key": f"pk-{chain}"}
            )
            row = next_row(
                heads[chain],
                event_id(seq),
                "referral.routed",
                "referral.routed",
                START + timedelta(seconds=seq),
                json.dumps(payload),
                chain=chain,
                log_seq=seq,
                genesis=seal.genesis,
            )
            heads[chain] = row
            by_chain[chain].append(row)
    return [row for chain in sorted(by_chain) for row in by_chain[chain]]


def legacy(length: int) -> list[ChainRow]:
    rows: list[ChainRow] = []
    for n in range(1, length + 1):
        rows.append(
            next_row(
                rows[-1] if rows else None,
                event_id(10_000 + n),
                "t",
                "t",
                START,
                json.dumps({"n": n}),
            )
        )
    return rows


def check(
    rows: list[ChainRow],
    seal: Seal = NO_LEGACY,
    anchors: dict[int, Anchor] | None = None,
) -> Any:
    verifier = LogVerifier(anchors or {}, seal)
    verifier.feed(rows)
    return verifier.finish()


def where(result: Any) -> list[tuple[str, int, FindingKind]]:
    return [(chain_name(f.chain), f.seq, f.kind) for f in result.findings]


# --- which chain ----------------------------------------------------------------------------------------------------


def test_rows_without_a_patient_key_go_to_the_keyless_chain() -> None:
    assert chain_of(None) == chain_of("") == KEYLESS
    assert chain_name(KEYLESS) == "keyless"
    assert chain_name(LEGACY) == "legacy"
    assert chain_name(3) == "shard 3"


@given(st.text(min_size=1))
def test_a_patient_key_always_goes_to_the_same_one_of_the_shards(key: str) -> None:
    assert chain_of(key) == chain_of(key)
    assert 0 <= chain_of(key) < SHARDS


def test_patient_keys_spread_over_every_shard() -> None:
    counts = [0] * SHARDS
    for n in range(1_600):
        counts[chain_of(f"{n:064x}")] += 1
    assert min(counts) > 60, counts
    assert max(counts) < 140, counts


# --- a log of chains ------------------------------------------------------------------------------------------------


def test_interleaved_chains_each_verify_and_are_counted() -> None:
    result = check(log({0: 5, 7: 3, KEYLESS: 4}))
    assert result.ok, result.summary
    assert [(chain, r.rows_checked) for chain, r in result.chains] == [
        (0, 5),
        (7, 3),
        (KEYLESS, 4),
    ]
    assert result.summary == "chains intact: 12 rows in 3 chains verified"


def test_an_edit_is_named_by_its_chain_and_its_place_in_that_chain() -> None:
    rows = log({2: 6, 5: 6})
    target = next(i for i, r in enumerate(rows) if r.chain == 5 and r.seq == 4)
    rows[target] = replace(rows[target], payload='{"n": 0}')
    result = check(rows)
    assert where(result) == [("shard 5", 4, FindingKind.EDITED)]
    assert result.findings[0].message.startswith("shard 5: row 4 was edited")


def test_a_row_deleted_from_one_chain_is_named_there_and_the_others_still_verify() -> (
    None
):
    rows = [r for r in log({1: 6, 9: 6}) if (r.chain, r.seq) != (9, 3)]
    result = check(rows)
    assert where(result) == [("shard 9", 3, FindingKind.DELETED)]
    assert result.of(1) is not None
    assert result.of(1).ok


def test_a_row_moved_to_another_chain_is_missing_from_one_and_foreign_in_the_other() -> (
    None
):
    rows = log({1: 4, 2: 4})
    moved = next(r for r in rows if (r.chain, r.seq) == (1, 2))
    rows = [r for r in rows if r is not moved]
    rows.insert(
        next(i for i, r in enumerate(rows) if r.chain == 2),
        replace(moved, chain=2, seq=5),
    )
    rows.sort(key=lambda r: (r.chain, r.seq))
    found = where(check(rows))
    assert ("shard 1", 2, FindingKind.DELETED) in found
    assert ("shard 2", 5, FindingKind.EDITED) in found


def test_a_renumbered_log_seq_is_an_edit() -> None:
    rows = log({4: 3})
    rows[1] = replace(rows[1], log_seq=rows[1].log_seq + 1)  # type: ignore[operator]
    assert where(check(rows)) == [("shard 4", 2, FindingKind.EDITED)]


def test_each_chain_resumes_from_its_own_anchor() -> None:
    rows = log({3: 8, 6: 8})
    anchors = {
        c: Anchor(
            seq=4,
            row_hash=next(r for r in rows if (r.chain, r.seq) == (c, 4)).row_hash,
            created_at=START,
            rows_pruned=4,
            chain=c,
        )
        for c in (3, 6)
    }
    kept = [r for r in rows if r.seq > 4]
    assert check(kept, anchors=anchors).ok
    swapped = {3: anchors[6], 6: anchors[3]}
    assert where(check(kept, anchors=swapped)) == [
        ("shard 3", 5, FindingKind.ANCHOR_MISMATCH),
        ("shard 6", 5, FindingKind.ANCHOR_MISMATCH),
    ]


def test_a_chain_emptied_after_its_anchor_is_named() -> None:
    rows = log({3: 4, 6: 4})
    anchor = Anchor(
        seq=2, row_hash=rows[1].row_hash, created_at=START, rows_pruned=2, chain=3
    )
    result = check([r for r in rows if r.chain == 6], anchors={3: anchor})
    assert where(result) == [("shard 3", 3, FindingKind.DELETED)]


# --- the legacy chain, closed by migration 009 ----------------------------------------------------------------------


def test_a_sealed_legacy_chain_verifies_and_the_new_chains_start_from_its_head() -> (
    None
):
    old = legacy(10)
    seal = Seal(10, old[-1].row_hash)
    new = log({0: 3, KEYLESS: 2}, seal)
    assert new[0].prev_hash == seal.row_hash
    result = check(old + new, seal)
    assert result.ok, result.summary
    assert result.of(LEGACY).rows_checked == 10  # type: ignore[union-attr]


def test_a_new_chain_that_does_not_start_from_the_seal_is_named() -> None:
    old = legacy(5)
    seal = Seal(5, old[-1].row_hash)
    assert where(check(old + log({2: 2}), seal)) == [
        ("shard 2", 1, FindingKind.EDITED)
    ]  # starts from GENESIS


def test_legacy_rows_deleted_from_the_end_are_found_by_the_seal() -> None:
    old = legacy(10)
    result = check(
        old[:7] + log({0: 2}, Seal(10, old[-1].row_hash)), Seal(10, old[-1].row_hash)
    )
    assert where(result) == [("legacy", 8, FindingKind.DELETED)]


def test_a_row_added_to_the_closed_legacy_chain_is_named() -> None:
    old = legacy(4)
    seal = Seal(4, old[-1].row_hash)
    late = next_row(old[-1], event_id(99), "t", "t", START, "{}")
    assert where(check([*old, late], seal)) == [("legacy", 5, FindingKind.INSERTED)]


def test_any_legacy_row_is_foreign_to_a_log_that_had_none() -> None:
    row = next_row(None, event_id(1), "t", "t", START, "{}")
    assert where(check([row], NO_LEGACY)) == [("legacy", 1, FindingKind.INSERTED)]
    assert NO_LEGACY.row_hash == GENESIS


# --- any edit at all ------------------------------------------------------------------------------------------------


@given(
    lengths=st.dictionaries(
        st.sampled_from([*range(SHARDS), KEYLESS]),
        st.integers(1, 5),
        min_size=1,
        max_size=4,
    ),
    payloads=st.lists(
        st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    ),
    field=st.sampled_from(["payload", "event_type", "topic", "prev_hash", "row_hash"]),
    data=st.data(),
)
@pytest.mark.hazard("HAZ-020")
def test_any_single_byte_edit_in_any_chain_is_found_at_its_chain_and_position(
    lengths: dict[int, int],
    payloads: list[dict[str, Any]],
    field: str,
    data: st.DataObject,
) -> None:
    rows = log(lengths, payloads=payloads)
    index = data.draw(st.integers(0, len(rows) - 1), label="row")
    target = rows[index]
    raw = str(getattr(target, field)).encode()
    position = data.draw(st.integers(0, len(raw) - 1), label="byte")
    byte = data.draw(
        st.integers(0, 255).filter(lambda b: b != raw[position]), label="new byte"
    )
    edited = (raw[:position] + bytes([byte]) + raw[position + 1 :]).decode(
        "utf-8", errors="surrogateescape"
    )
    # Respacing, or 1e-07 spelt 1E-07, is the same JSON: jsonb could not store the difference either.
    assume(field != "payload" or not _same_json(edited, target.payload))
    changes: dict[str, Any] = {field: edited}
    rows[index] = replace(target, **changes)
    result = check(rows)
    assert not result.ok
    first = result.findings[0]
    assert (first.chain, first.seq, first.kind) == (
        target.chain,
        target.seq,
        FindingKind.EDITED,
    )
    # Nothing is blamed outside the edited chain, nor before the edited row.
    assert {(f.chain, f.seq >= target.seq) for f in result.findings} == {
        (target.chain, True)
    }
