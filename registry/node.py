"""A running registry: its data directory, database, sequencer and read side."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.database import create_engine
from ledger.keys import VerifierKey
from ledger.reader import LogReader
from ledger.sequencer import Sequencer
from ledger.store import LogStore
from registry.datadir import DataDir


@dataclass
class Node:
    """One registry instance: the writer and the reader of its log."""

    data_dir: DataDir
    engine: Engine
    sequencer: Sequencer
    reader: LogReader
    _latest: tuple[str, SignedCheckpoint] | None = field(default=None, init=False, repr=False)

    @property
    def store(self) -> LogStore:
        return self.reader.store

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

    def close(self) -> None:
        self.engine.dispose()


def open_node(root: Path, *, database_url: str | None = None, schema: str | None = None) -> Node:
    """Open the registry in data directory ``root``.

    Raises :class:`registry.datadir.DataDirError` if ``root`` has no log key, and the
    sequencer's :class:`ledger.errors.StoreBehindError` / ``ForkError`` if the database is
    behind or disagrees with the last published checkpoint.
    """
    data_dir = DataDir(root)
    key = data_dir.load_log_key()
    engine = create_engine(data_dir.database_url(database_url), schema=schema)
    sequencer = Sequencer(engine, key, data_dir.checkpoint)
    return Node(data_dir, engine, sequencer, LogReader(LogStore(engine)))
