"""The audit log as independent chains, one per shard of the patient key space, so writers need no global lock.

Why shards of the patient key, and not of the Kafka partition: the key is
already what the topics are partitioned by, and sharding by it keeps a
patient's whole trail (every topic, every service) in one chain, in the
order it was recorded, whichever audit instance recorded it. The number of
shards is fixed (``SHARDS``), so verification, anchors and the set of heads
are bounded and known; it is not the partition count, which operators may
raise. An event with no patient key (access records, dead letters, an
agency's own report, which audit does not let bind itself to a patient)
has no shard: it goes to ``KEYLESS``, a chain of its own, rather than to a
shard picked by something that says nothing about a patient.

Rows recorded before the shards (audit migration 009) stay as they were:
the ``LEGACY`` chain, hashed by the old scheme, closed by a ``Seal`` (its
last seq and hash) that the migration wrote. Every sharded chain starts
from the seal's hash, so the old chain is anchored into each new one.

``LogVerifier`` checks every chain, each with its own anchor, and names a
finding by chain and position.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from services.audit.domain.chain import (
    GENESIS,
    LEGACY,
    MAX_FINDINGS,
    Anchor,
    ChainRow,
    Finding,
    FindingKind,
    Verification,
    Verifier,
)

SHARDS = 16
"""Chains for rows with a patient key: more than audit will ever run instances, few enough to verify one by one."""
KEYLESS = SHARDS
"""The chain of rows that concern no patient."""


def chain_of(patient_key: str | None) -> int:
    """The chain a row goes to: its patient key's shard, or ``KEYLESS``.

    The key is hashed again (it is already a keyed hash, but its spelling is
    the producers' business), so shards stay even whatever it looks like.
    """
    if not patient_key:
        return KEYLESS
    return (
        int.from_bytes(hashlib.sha256(patient_key.encode()).digest()[:8], "big")
        % SHARDS
    )


def chain_name(chain: int) -> str:
    """How an operator reads a chain's id: ``legacy``, ``keyless`` or ``shard 7``."""
    if chain == LEGACY:
        return "legacy"
    if chain == KEYLESS:
        return "keyless"
    return f"shard {chain}"


@dataclass(frozen=True)
class Seal:
    """The head of the closed legacy chain (seq 0 and ``GENESIS`` when there was none), as migration 009 noted it."""

    seq: int
    row_hash: str

    @property
    def genesis(self) -> str:
        """Where every sharded chain starts."""
        return self.row_hash


NO_LEGACY = Seal(0, GENESIS)


@dataclass(frozen=True)
class ChainFinding:
    """A finding of one chain; ``message`` names the chain."""

    chain: int
    finding: Finding

    @property
    def kind(self) -> FindingKind:
        return self.finding.kind

    @property
    def seq(self) -> int:
        """The position in its chain."""
        return self.finding.seq

    @property
    def message(self) -> str:
        return f"{chain_name(self.chain)}: {self.finding.message}"


@dataclass(frozen=True)
class LogVerification:
    chains: tuple[tuple[int, Verification], ...]
    """Each chain that has rows, an anchor or a seal, by id."""
    findings: tuple[ChainFinding, ...]
    """Chain by chain, at most ``MAX_FINDINGS``; ``findings_total`` counts them all."""
    findings_total: int

    @property
    def ok(self) -> bool:
        return self.findings_total == 0

    @property
    def rows_checked(self) -> int:
        return sum(result.rows_checked for _, result in self.chains)

    def of(self, chain: int) -> Verification | None:
        return dict(self.chains).get(chain)

    @property
    def summary(self) -> str:
        counted = len([c for c, r in self.chains if r.rows_checked])
        span = f"{self.rows_checked} rows in {counted} chains"
        if self.ok:
            return f"chains intact: {span} verified"
        unlisted = self.findings_total - len(self.findings)
        more = f" ({unlisted} more not listed)" if unlisted else ""
        return f"chain broken: {self.findings_total} findings in {span}{more}; first: {self.findings[0].message}"


@dataclass
class LogVerifier:
    """Rows of every chain, fed chain after chain, each chain's rows in position order (as an index reads them).

    ``anchors`` holds each chain's latest retention anchor. Legacy rows past
    the seal were added after the chain was closed: they are findings, and
    are not fed into its verifier.
    """

    anchors: Mapping[int, Anchor] = field(default_factory=dict)
    seal: Seal = NO_LEGACY
    max_findings: int = MAX_FINDINGS
    _done: dict[int, Verification] = field(default_factory=dict)
    _current: tuple[int, Verifier] | None = None
    _late: list[Finding] = field(default_factory=list)

    def feed(self, rows: Iterable[ChainRow]) -> None:
        for row in rows:
            if self._current is None or self._current[0] != row.chain:
                self._switch(row.chain)
            assert self._current is not None
            if row.chain == LEGACY and row.seq > self.seal.seq:
                message = f"row {row.seq} was inserted: the legacy chain was closed at row {self.seal.seq}"
                self._late.append(Finding(FindingKind.INSERTED, row.seq, message))
                continue
            self._current[1].feed((row,))

    def finish(self) -> LogVerification:
        self._switch(None)
        if self.seal.seq and LEGACY not in self._done:
            self._done[LEGACY] = self._verifier(LEGACY).finish()
        for chain, anchor in self.anchors.items():
            if chain not in self._done:
                message = f"rows after row {anchor.seq} are missing (deleted): the chain's anchor is there, no row after it"
                self._done[chain] = _failed(
                    Finding(FindingKind.DELETED, anchor.seq + 1, message)
                )
        if self._late:
            legacy = self._done.get(LEGACY) or _failed()
            findings = tuple(
                sorted((*legacy.findings, *self._late), key=lambda f: f.seq)
            )
            total = legacy.findings_total + len(self._late)
            self._done[LEGACY] = replace(
                legacy, ok=False, findings=findings, findings_total=total
            )
        chains = tuple(sorted(self._done.items()))
        found = [
            ChainFinding(chain, f) for chain, result in chains for f in result.findings
        ]
        total = sum(result.findings_total for _, result in chains)
        return LogVerification(chains, tuple(found[: self.max_findings]), total)

    def _switch(self, chain: int | None) -> None:
        if self._current is not None:
            done, verifier = self._current
            if done in self._done:
                raise ValueError(
                    f"rows of {chain_name(done)} must be fed together, in position order"
                )
            self._done[done] = verifier.finish()
        self._current = None if chain is None else (chain, self._verifier(chain))

    def _verifier(self, chain: int) -> Verifier:
        anchor = self.anchors.get(chain)
        if chain == LEGACY:
            head = (self.seal.seq, self.seal.row_hash) if self.seal.seq else None
            return Verifier(anchor, expected_head=head, max_findings=self.max_findings)
        return Verifier(
            anchor, max_findings=self.max_findings, genesis=self.seal.genesis
        )


def _failed(*findings: Finding) -> Verification:
    return Verification(False, 0, None, None, findings, len(findings))
