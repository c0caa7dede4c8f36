"""The audit log's hash chain: how a row is hashed, and how a chain is checked.

Each row's hash covers its own content and the previous row's hash, so
changing, removing, adding or moving a row breaks the chain at that row.
``verify`` reads the rows once, in seq order, keeping only the last row it
accepted (and peeking one row ahead), so it checks a log of any length in
constant memory, and it says which row broke the chain and how. ``Verifier``
does the same for rows fed in pieces, as an async cursor reads them.

Two things a chain cannot show by itself, and the anchors that cover them:
rows removed from the start (retention prunes them, and leaves an ``Anchor``
with the last pruned row's seq and hash), and rows removed from the end (no
later row points back at them; ``expected_head``, a seq and hash noted
somewhere the log's writer cannot change, shows they are gone).
"""

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from services.audit.domain.canonical import canonical_json, canonical_time

GENESIS = "0" * 64
"""The ``prev_hash`` of row 1."""
HASH_SCHEME = "signpost.audit.row.v1"
"""Named inside every hashed encoding, so a future scheme can never produce the same input."""
SHARDED_SCHEME = "signpost.audit.row.v2"
"""Rows of the sharded chains (audit migration 009): the chain's id and the log's seq are hashed too."""
LEGACY = -1
"""The chain every row written before migration 009 belongs to: one chain, hashed with ``HASH_SCHEME``, closed."""
MAX_FINDINGS = 100

Head = tuple[int, str]
"""A row's seq and hash, noted outside the log."""


def row_hash(
    prev_hash: str,
    seq: int,
    event_id: UUID | str,
    event_type: str,
    topic: str,
    occurred_at_iso: str | datetime,
    payload_json: str,
) -> str:
    """The sha256 (hex) of a row: a JSON array of its canonical fields, so no two rows encode alike.

    ``occurred_at_iso`` may carry any UTC offset and ``payload_json`` any
    spelling of the same JSON (the recorder's ``json.dumps`` or jsonb's text):
    both are canonicalised first. ``ValueError`` when the event id, time or
    payload is malformed.
    """
    fields = [
        HASH_SCHEME,
        prev_hash,
        seq,
        str(UUID(str(event_id))),
        event_type,
        topic,
        canonical_time(occurred_at_iso),
        canonical_json(payload_json),
    ]
    return hashlib.sha256(
        json.dumps(fields, separators=(",", ":")).encode("ascii")
    ).hexdigest()


def sharded_row_hash(
    prev_hash: str,
    chain: int,
    position: int,
    log_seq: int,
    event_id: UUID | str,
    event_type: str,
    topic: str,
    occurred_at_iso: str | datetime,
    payload_json: str,
) -> str:
    """``row_hash`` for a row of a sharded chain: it also covers which chain, and the log-wide ``seq``.

    ``position`` is the row's place in its own chain (what links it to its
    predecessor); ``log_seq`` is its place in the whole log, which the live
    stream and queries order by, so renumbering it is an edit too.
    """
    return sharded_digest(
        prev_hash,
        chain,
        position,
        log_seq,
        str(UUID(str(event_id))),
        event_type,
        topic,
        canonical_time(occurred_at_iso),
        canonical_json(payload_json),
    )


def sharded_digest(
    prev_hash: str,
    chain: int,
    position: int,
    log_seq: int,
    event_id: str,
    event_type: str,
    topic: str,
    time: str,
    payload: str,
) -> str:
    """``sharded_row_hash`` of fields already canonical: the recorder canonicalises before it locks a chain's head,
    so only this, microseconds a row, runs while other instances may wait for that head."""
    fields = [
        SHARDED_SCHEME,
        prev_hash,
        chain,
        position,
        log_seq,
        event_id,
        event_type,
        topic,
        time,
        payload,
    ]
    return hashlib.sha256(
        json.dumps(fields, separators=(",", ":")).encode("ascii")
    ).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    """The columns of one audit_log row that the hash covers, plus the two hashes.

    ``seq`` is the row's position in its chain. In the legacy chain that is
    the log's seq as well; a sharded row also carries the log's seq
    (``log_seq``), which its hash covers.
    """

    seq: int
    event_id: UUID | str
    event_type: str
    topic: str
    occurred_at: str
    payload: str
    prev_hash: str
    row_hash: str
    chain: int = LEGACY
    log_seq: int | None = None

    def hashed_as(self, seq: int) -> str:
        """The hash this row's content gives at position ``seq`` of its chain; ``ValueError`` if malformed."""
        if self.chain == LEGACY:
            return row_hash(
                self.prev_hash,
                seq,
                self.event_id,
                self.event_type,
                self.topic,
                self.occurred_at,
                self.payload,
            )
        if self.log_seq is None:
            raise ValueError("a row of a sharded chain has no log seq")
        return sharded_row_hash(
            self.prev_hash,
            self.chain,
            seq,
            self.log_seq,
            self.event_id,
            self.event_type,
            self.topic,
            self.occurred_at,
            self.payload,
        )


@dataclass(frozen=True)
class Anchor:
    """Where the chain resumes after retention pruned rows 1..seq: the last pruned row's seq and hash."""

    seq: int
    row_hash: str
    created_at: datetime
    rows_pruned: int
    chain: int = LEGACY


def next_row(
    previous: ChainRow | Anchor | None,
    event_id: UUID | str,
    event_type: str,
    topic: str,
    occurred_at: str | datetime,
    payload_json: str,
    *,
    chain: int = LEGACY,
    log_seq: int | None = None,
    genesis: str = GENESIS,
) -> ChainRow:
    """The row that extends ``chain`` after ``previous`` (its last row or anchor; ``None`` for an empty chain).

    A sharded chain (any ``chain`` but ``LEGACY``) needs the row's ``log_seq``;
    its first row links to ``genesis`` (the closed legacy chain's head, once
    there was one: ``chains.Seal``).
    """
    seq, prev_hash = (previous.seq + 1, previous.row_hash) if previous else (1, genesis)
    occurred = canonical_time(occurred_at)
    row = ChainRow(
        seq,
        event_id,
        event_type,
        topic,
        occurred,
        payload_json,
        prev_hash,
        "",
        chain,
        log_seq,
    )
    return replace(row, row_hash=row.hashed_as(seq))


class FindingKind(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    ANCHOR_MISMATCH = "anchor_mismatch"


@dataclass(frozen=True)
class Finding:
    """One break in the chain: what kind, at which row (``end_seq`` closes a range of missing rows), and in words."""

    kind: FindingKind
    seq: int
    message: str
    end_seq: int | None = None


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows_checked: int
    first_seq: int | None
    last_seq: int | None
    findings: tuple[Finding, ...]
    """In seq order, at most ``MAX_FINDINGS`` of them; ``findings_total`` counts them all."""
    findings_total: int

    @property
    def summary(self) -> str:
        span = (
            f"{self.rows_checked} rows (seq {self.first_seq}–{self.last_seq})"
            if self.rows_checked
            else "no rows"
        )
        if self.ok:
            return f"chain intact: {span} verified"
        unlisted = self.findings_total - len(self.findings)
        more = f" ({unlisted} more not listed)" if unlisted else ""
        return f"chain broken: {self.findings_total} findings in {span}{more}; first: {self.findings[0].message}"


def verify(
    rows: Iterable[ChainRow],
    anchor: Anchor | None = None,
    *,
    expected_head: Head | None = None,
    max_findings: int = MAX_FINDINGS,
) -> Verification:
    """Check a chain read in seq order, from genesis or from ``anchor`` when older rows were pruned.

    Each finding names the row: edited (content or links changed), deleted
    (a gap, or rows renumbered to close one), inserted (a forged row, a
    duplicated seq), reordered (rows out of seq order, or two rows that
    exchanged seq numbers), anchor_mismatch (the chain does not meet an
    anchor or the expected head). ``expected_head`` is a (seq, row_hash)
    noted earlier outside the log: that row must still be there, unchanged,
    which shows rows deleted from the end. Rows after it are the log
    growing, not a finding.
    """
    verifier = Verifier(anchor, expected_head=expected_head, max_findings=max_findings)
    verifier.feed(rows)
    return verifier.finish()


class Verifier:
    """``verify`` fed in pieces, for rows read a chunk at a time (an async cursor cannot feed a sync iterable).

    Feeding the rows in any split gives the same ``Verification`` as one
    ``verify`` over them all: the last row of each piece waits for the next,
    because some findings (two rows that swapped seq numbers, a duplicate
    seq) are decided by the row after.
    """

    def __init__(
        self,
        anchor: Anchor | None = None,
        *,
        expected_head: Head | None = None,
        max_findings: int = MAX_FINDINGS,
        genesis: str = GENESIS,
    ):
        self._checker = _Checker(anchor, expected_head, max_findings, genesis)
        self._held: ChainRow | None = None
        self._finished = False

    def feed(self, rows: Iterable[ChainRow]) -> None:
        """The next rows, in the order they were read."""
        if self._finished:
            raise RuntimeError("the verification is finished; start a new Verifier")
        held, self._held = self._held, None
        stream = _Lookahead(itertools.chain(() if held is None else (held,), rows))
        for row in stream:
            if stream.peek() is None:
                self._held = row  # its successor, if any, comes with the next piece
                return
            self._checker.check(row, stream)

    def finish(self) -> Verification:
        """The result, once every row was fed."""
        if self._finished:
            raise RuntimeError("the verification is finished; start a new Verifier")
        if self._held is not None:
            self._checker.check(self._held, _Lookahead(()))
            self._held = None
        self._finished = True
        return self._checker.finish()


def _content_problem(row: ChainRow, seq: int) -> str | None:
    """Why the row's content, hashed as row ``seq``, does not give its stored hash; ``None`` when it does."""
    try:
        digest = row.hashed_as(seq)
    except ValueError as error:
        return f"its content is no longer well-formed ({error})"
    return None if digest == row.row_hash else "its content no longer matches its hash"


def _rows(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}–{last}"


def _span(first: int, last: int) -> str:
    return _rows(first, last) + (" is" if first == last else " are")


@dataclass(frozen=True)
class _Tip:
    """The last row accepted into the chain, or where the chain starts (genesis or an anchor)."""

    seq: int
    row_hash: str
    prev_hash: str | None = None
    event_id: str | None = None
    origin: Literal["genesis", "anchor"] | None = None
    """Set when this is where the chain starts, not a row."""


class _Lookahead(Iterator[ChainRow]):
    def __init__(self, rows: Iterable[ChainRow]) -> None:
        self._rows = iter(rows)
        self._next: ChainRow | None = None

    def __next__(self) -> ChainRow:
        if self._next is not None:
            row, self._next = self._next, None
            return row
        return next(self._rows)

    def peek(self) -> ChainRow | None:
        if self._next is None:
            self._next = next(self._rows, None)
        return self._next


@dataclass
class _Checker:
    anchor: Anchor | None
    head: Head | None
    max_findings: int
    genesis: str = GENESIS
    tip: _Tip | None = None
    rows_checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_seen: bool = False
    shift: int = 0
    """Shown seq minus the seq rows were hashed under, after rows were renumbered around an insertion or deletion."""
    findings: list[Finding] = field(default_factory=list)
    findings_total: int = 0

    def check(self, row: ChainRow, stream: _Lookahead) -> None:
        self._count(row)
        if self.tip is None:
            self.tip = self._start(row)
        problem = self._problem(row)
        if row.seq > self.tip.seq:
            self._ahead(row, self.tip, problem, stream)
        elif row.seq == self.tip.seq and self.tip.origin is None:
            self._duplicate(row, self.tip, problem, stream)
        else:
            self._behind(row, self.tip, problem)

    def finish(self) -> Verification:
        if self.head is not None and not self.head_seen:
            head_seq = self.head[0]
            top = (
                self.tip.seq - self.shift
                if self.tip
                else (self.anchor.seq if self.anchor else 0)
            )
            if top < head_seq:
                where = f"missing from the end of the log (deleted): the recorded head is row {head_seq}"
                self._add(
                    FindingKind.DELETED,
                    top + 1,
                    f"{_span(top + 1, head_seq)} {where}",
                    head_seq,
                )
        self.findings.sort(key=lambda finding: finding.seq)
        return Verification(
            ok=self.findings_total == 0,
            rows_checked=self.rows_checked,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            findings=tuple(self.findings),
            findings_total=self.findings_total,
        )

    def _count(self, row: ChainRow) -> None:
        self.rows_checked += 1
        self.first_seq = row.seq if self.first_seq is None else self.first_seq
        self.last_seq = (
            row.seq if self.last_seq is None else max(self.last_seq, row.seq)
        )

    def _problem(self, row: ChainRow, seq: int | None = None) -> str | None:
        return _content_problem(row, (row.seq if seq is None else seq) - self.shift)

    def _start(self, first: ChainRow) -> _Tip:
        # With an anchor, the chain resumes after it, unless the pruned rows are still here to check from genesis.
        if self.anchor is not None and first.seq > self.anchor.seq:
            return _Tip(self.anchor.seq, self.anchor.row_hash, origin="anchor")
        return _Tip(0, self.genesis, origin="genesis")

    def _ahead(
        self, row: ChainRow, tip: _Tip, problem: str | None, stream: _Lookahead
    ) -> None:
        gap = row.seq - tip.seq - 1
        links = row.prev_hash == tip.row_hash
        if problem is not None:
            if gap == 0 and (
                self._swapped(row, tip, stream) or self._renumbered(row, tip)
            ):
                return
            self._edited(row, problem)
            if gap and not links:
                self._missing(tip, row.seq)
        elif gap == 0 and not links:
            if tip.origin == "anchor":
                message = f"row {row.seq} does not link to the anchor at row {tip.seq}: the anchor or the row was changed"
                self._add(FindingKind.ANCHOR_MISMATCH, row.seq, message)
            else:
                message = f"row {row.seq} does not link to row {tip.seq}: one of them was edited and its hash recomputed"
                self._add(FindingKind.EDITED, row.seq, message)
        elif gap and links:
            if tip.origin == "anchor":
                message = f"row {row.seq} links to the anchor, but the anchor says it ends at row {tip.seq}, not {row.seq - 1}"
                self._add(FindingKind.ANCHOR_MISMATCH, row.seq, message)
            else:
                skipped = _rows(tip.seq + 1, row.seq - 1)
                message = f"row {row.seq} was inserted: it links to row {tip.seq} but its seq skips {skipped}"
                self._add(FindingKind.INSERTED, row.seq, message)
                return  # a forged row is not part of the chain: the next genuine row still links to the tip
        elif gap:
            self._missing(tip, row.seq)
        self._accept(_tip_of(row))

    def _duplicate(
        self, row: ChainRow, tip: _Tip, problem: str | None, stream: _Lookahead
    ) -> None:
        """Two rows share a seq: the one the next row links to is genuine, the other was inserted."""
        if problem is not None:
            self._edited(row, problem)
        following = stream.peek()
        if (
            following is not None
            and following.prev_hash == row.row_hash != tip.row_hash
        ):
            forged = tip.event_id
            self._accept(_tip_of(row))
        else:
            forged = str(row.event_id)
        message = f"row {row.seq} appears twice: the copy with event {forged} was inserted, the chain continues through the other"
        self._add(FindingKind.INSERTED, row.seq, message)

    def _behind(self, row: ChainRow, tip: _Tip, problem: str | None) -> None:
        """A row whose seq the chain has passed: moved away from a gap it left, or a second copy."""
        if problem is not None:
            self._edited(row, problem)
        if self._fill_gap(row.seq):
            self._add(
                FindingKind.REORDERED,
                row.seq,
                f"row {row.seq} is out of order: it comes after row {tip.seq}",
            )
        else:
            message = f"row {row.seq} was inserted: it comes after row {tip.seq}, and no row {row.seq} is missing there"
            self._add(FindingKind.INSERTED, row.seq, message)

    def _swapped(self, row: ChainRow, tip: _Tip, stream: _Lookahead) -> bool:
        """Rows s and s+1 that exchanged seq numbers: each hashes under the other's seq, and they link crosswise."""
        following = stream.peek()
        if following is None or following.seq != row.seq + 1:
            return False
        crosswise = (
            following.prev_hash == tip.row_hash and row.prev_hash == following.row_hash
        )
        if (
            not crosswise
            or self._problem(row, following.seq)
            or self._problem(following, row.seq)
        ):
            return False
        self._count(next(stream))
        message = f"rows {row.seq} and {following.seq} swapped places: their seq numbers were exchanged"
        self._add(FindingKind.REORDERED, row.seq, message)
        self._accept(
            _Tip(
                row.seq,
                following.row_hash,
                following.prev_hash,
                str(following.event_id),
            )
        )
        self._accept(
            _Tip(following.seq, row.row_hash, row.prev_hash, str(row.event_id))
        )
        return True

    def _renumbered(self, row: ChainRow, tip: _Tip) -> bool:
        """A row that hashes under the seq next to its own: a row was inserted or deleted and the rest renumbered."""
        if (
            tip.origin is None
            and row.prev_hash == tip.prev_hash
            and not self._problem(row, row.seq - 1)
        ):
            self.shift += 1
            message = f"row {tip.seq} was inserted: row {row.seq} links past it, and the rows after it were renumbered up"
            self._add(FindingKind.INSERTED, tip.seq, message)
        elif row.prev_hash != tip.row_hash and not self._problem(row, row.seq + 1):
            self.shift -= 1
            message = f"row {row.seq} is missing (deleted), and the rows after it were renumbered down to close the gap"
            self._add(FindingKind.DELETED, row.seq, message)
        else:
            return False
        self._accept(_tip_of(row))
        return True

    def _accept(self, tip: _Tip) -> None:
        self.tip = tip
        written_as = (
            tip.seq - self.shift
        )  # anchors and heads name a row by the seq it was written with
        pins = (
            ("anchor", self.anchor and (self.anchor.seq, self.anchor.row_hash)),
            ("recorded head", self.head),
        )
        for name, pin in pins:
            if pin and pin[0] == written_as:
                self.head_seen = self.head_seen or name == "recorded head"
                if pin[1] != tip.row_hash:
                    message = f"row {tip.seq} does not match the {name}: it, or a row before it, was altered and re-hashed"
                    self._add(FindingKind.ANCHOR_MISMATCH, tip.seq, message)

    def _edited(self, row: ChainRow, problem: str) -> None:
        self._add(FindingKind.EDITED, row.seq, f"row {row.seq} was edited: {problem}")

    def _missing(self, tip: _Tip, next_seq: int) -> None:
        hint = (
            "; if retention pruned them, verify from its anchor"
            if tip.origin == "genesis"
            else ""
        )
        first, last = tip.seq + 1, next_seq - 1
        self._add(
            FindingKind.DELETED,
            first,
            f"{_span(first, last)} missing (deleted){hint}",
            last,
        )

    def _fill_gap(self, seq: int) -> bool:
        """Take ``seq`` out of a gap reported earlier, because the row turned up late; ``False`` when no gap held it."""
        for index, finding in enumerate(self.findings):
            last = finding.seq if finding.end_seq is None else finding.end_seq
            if finding.kind is FindingKind.DELETED and finding.seq <= seq <= last:
                del self.findings[index]
                self.findings_total -= 1
                for first, end in ((finding.seq, seq - 1), (seq + 1, last)):
                    if first <= end:
                        self._add(
                            FindingKind.DELETED,
                            first,
                            f"{_span(first, end)} missing (deleted)",
                            end,
                        )
                return True
        return False

    def _add(
        self, kind: FindingKind, seq: int, message: str, end_seq: int | None = None
    ) -> None:
        self.findings_total += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(Finding(kind, seq, message, end_seq))


def _tip_of(row: ChainRow) -> _Tip:
    return _Tip(row.seq, row.row_hash, row.prev_hash, str(row.event_id))
