"""A running registry: its data directory, database, sequencer, domain service and read side."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.database import create_engine
from ledger.errors import CheckpointError, LedgerError
from ledger.keys import SignerKey, VerifierKey
from ledger.reader import LogReader
from ledger.sequencer import Sequencer
from ledger.store import LogStore
from ledger.trust_policy import Policy
from ledger.witnessing import WitnessEndpoint, Witnessing
from registry import commands
from registry.datadir import DEFAULT_ORIGIN, DataDir, DataDirError
from registry.lineage import Lineage
from registry.service import Registry
from registry.state import Applied


@dataclass(frozen=True)
class Receipted:
    """An accepted event, with a signed checkpoint and the receipt proving the event is in it."""

    index: int
    event_id: str
    type: str
    duplicate: bool
    checkpoint: str
    """The signed note of the checkpoint the receipt is against."""
    receipt: str
    """A C2SP tlog-proof of the entry against ``checkpoint``, the entry in its extra data."""


@dataclass
class Node:
    """One registry instance: the writer and the reader of its log."""

    data_dir: DataDir
    engine: Engine
    sequencer: Sequencer
    reader: LogReader
    registry: Registry
    lineage: Lineage
    """The ownership graph, read from the state as it grows (built on first use)."""
    witness_policy: Policy | None = None
    """The data directory's ``witnesses.policy``: the witnesses to push to and the quorum to serve."""
    witnessing: Witnessing | None = None
    """Pushes checkpoints to the witnesses once :meth:`start_witnessing` is called."""
    _latest: tuple[str, SignedCheckpoint] | None = field(default=None, init=False, repr=False)
    _served: tuple[str, SignedCheckpoint] | None = field(default=None, init=False, repr=False)
    _short_of_quorum: set[str] = field(default_factory=set, init=False, repr=False)

    @property
    def store(self) -> LogStore:
        return self.reader.store

    @property
    def origin(self) -> str:
        return self.sequencer.origin

    @property
    def log_vkey(self) -> VerifierKey:
        return self.sequencer.log_key.verifier

    def latest_checkpoint(self) -> SignedCheckpoint:
        """Return the latest checkpoint published by any writer of this database."""
        recorded = self.store.latest_checkpoint()
        if recorded is None:
            return self.sequencer.published
        note = recorded[1]
        if self._latest is None or self._latest[0] != note:  # verify each new note once, not per request
            self._latest = (note, open_checkpoint(note, self.log_vkey))
        # A row filed under the wrong size would make an old checkpoint look latest.
        return max(self._latest[1], self.sequencer.published, key=lambda c: c.size)

    def served_checkpoint(self) -> SignedCheckpoint:
        """The checkpoint to publish as ``/log/checkpoint``.

        With a witness policy, the latest recorded checkpoint whose cosignatures meet its
        quorum (a client enforcing the same policy accepts it), never smaller than the one
        served before; until one exists, or with no policy, the latest checkpoint. Proofs and
        receipts may use later checkpoints: each one extends this.
        """
        if self.witness_policy is None:
            return self.latest_checkpoint()
        for size, note in self.store.recent_checkpoints(_WITNESSED_LOOKBACK):
            if self._served is not None and (self._served[0] == note or self._served[1].size > size):
                return self._served[1]  # never serve a smaller checkpoint than before
            if note in self._short_of_quorum:
                continue
            try:
                signed = self.witness_policy.verify(note)
            except CheckpointError:
                self._short_of_quorum.add(note)  # verified once per note text, not per request
                if len(self._short_of_quorum) > 4 * _WITNESSED_LOOKBACK:
                    self._short_of_quorum.clear()
                continue  # not (yet) co-signed by a quorum: look at the one before
            if signed.size != size:  # the row's key decides which checkpoint is latest
                continue
            self._served = (note, signed)
            return signed
        return self._served[1] if self._served is not None else self.latest_checkpoint()

    def receipted(self, applied: Applied) -> Receipted:
        """``applied`` with its receipt: against the checkpoint this process signed for it when it
        wrote it (no read), else against the latest checkpoint of any writer.

        Raises :class:`ledger.errors.ProofError` if the store cannot prove the entry.
        """
        published = self.sequencer.published
        fresh = applied.entry is not None and published.size > applied.index
        checkpoint = published if fresh else self.latest_checkpoint()
        receipt = self.reader.receipt(applied.index, checkpoint, applied.entry)
        return Receipted(
            applied.index, applied.event_id, applied.type, applied.duplicate, checkpoint.encode(), receipt.encode()
        )

    def start_witnessing(self, interval: float = 0.25) -> None:
        """Push checkpoints to the configured witnesses in the background (``registry serve``)."""
        if self.witnessing is not None:
            self.witnessing.start(interval)

    def close(self) -> None:
        if self.witnessing is not None:
            self.witnessing.stop()
        self.registry.close()
        self.engine.dispose()


_WITNESSED_LOOKBACK = 64
"""How many recent checkpoints :meth:`Node.served_checkpoint` looks through for a co-signed one."""


def _witnessing(data_dir: DataDir, reader: LogReader, log_key: VerifierKey) -> tuple[Policy | None, Witnessing | None]:
    """Read ``witnesses.policy``; raise :class:`DataDirError` if it is malformed or names another log."""
    if not data_dir.witnesses.exists():
        return None, None
    try:
        policy = Policy.parse(data_dir.witnesses.read_text())
        named = policy.log_key(log_key.name)
    except (OSError, ValueError, LedgerError) as exc:  # ValueError: not UTF-8
        raise DataDirError(f"{data_dir.witnesses}: {exc}") from exc
    if named != log_key:
        raise DataDirError(f"{data_dir.witnesses}: its log key is not this registry's ({log_key.text()})")
    endpoints = [WitnessEndpoint(w.key, w.url) for w in policy.witnesses.values() if w.url is not None]
    return policy, Witnessing(reader, log_key, endpoints) if endpoints else None


def open_node(root: Path, *, database_url: str | None = None, schema: str | None = None) -> Node:
    """Open the registry in data directory ``root``, bringing its state up to its log.

    Raises :class:`registry.datadir.DataDirError` if ``root`` has no log key, the
    sequencer's :class:`ledger.errors.StoreBehindError` / ``ForkError`` if the database is
    behind or disagrees with the last published checkpoint, and
    :class:`registry.errors.ReplayError` if the log's entries are out of order. An entry the
    rules refuse is void and named by a finding (registry.findings).
    """
    data_dir = DataDir(root)
    key = data_dir.load_log_key()
    engine = create_engine(data_dir.database_url(database_url), schema=schema)
    sequencer = Sequencer(engine, key, data_dir.checkpoint)
    reader = LogReader(LogStore(engine), edge=sequencer.edge_tile)
    policy, witnessing = _witnessing(data_dir, reader, key.verifier)
    registry = Registry(engine, sequencer)
    return Node(data_dir, engine, sequencer, reader, registry, Lineage(engine), policy, witnessing)


def initialise_registry(
    root: Path,
    *,
    origin: str = DEFAULT_ORIGIN,
    operator: str = "operator",
    operator_name: str = "Registry operator",
    database_url: str | None = None,
    schema: str | None = None,
) -> tuple[Node, SignerKey]:
    """Create a registry in ``root``: the log key, the operator's key and the first event.

    The first event opens the operator's account, signed by the key it binds (the root of
    every later authority). The operator key is saved as ``keys/OPERATOR.key``. Raises
    :class:`registry.datadir.DataDirError` if ``root`` already holds a registry.
    """
    data_dir = DataDir(root)
    data_dir.initialise(origin)
    operator_key = SignerKey.generate(operator)
    data_dir.save_key(operator_key)
    node = open_node(root, database_url=database_url, schema=schema)
    first = commands.genesis(origin, operator, operator_key, name=operator_name)
    node.registry.submit(commands.sign(first, [operator_key]))
    return node, operator_key
