"""The offline audit: rebuild the whole log from its entries and check everything it claims.

Steps, each marked where it happens below:

(1) verify the signature of every checkpoint we hold: the pinned one (kept outside the
    database) and each one recorded in the database;
(2) detect a rollback: the store must hold every entry the latest checkpoint commits to;
(3) read the entries in index order, with no gaps, each canonical and well formed;
(4) verify every envelope's signatures (through the caller's ``verify_envelope``);
(5) rebuild every tile from the entries and compare it with the stored tile;
(6) compare the rebuilt root with the log head and with the latest checkpoint;
(7) check that every recorded checkpoint is a prefix of the rebuilt tree, so the log
    never signed two histories.

The first failure raises :class:`AuditError` naming where it is: an entry index, a tile
(``tile L/N``), the log head or a checkpoint.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ledger import dsse
from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.entry import LogEntry
from ledger.errors import CheckpointError, LedgerError, SignatureError
from ledger.keys import VerifierKey
from ledger.merkle import HASH_SIZE, leaf_hash
from ledger.merkle import root as merkle_root
from ledger.sequencer import TreeState
from ledger.store import LogStore
from ledger.tiles import TILE_WIDTH, Tile, TileHashes, tiles_for_size

EnvelopeCheck = Callable[[int, LogEntry], None]
"""``verify_envelope(index, entry)``: raise a :class:`LedgerError` if the entry's signatures are not valid."""


class AuditError(LedgerError):
    """The audit found a fault. ``where`` names it: ``entry 17``, ``tile 0/003``, ``checkpoint``…"""

    code = "audit-failed"

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class RollbackError(AuditError):
    """The store holds fewer entries than a checkpoint that was published: history was deleted."""

    code = "rollback"


@dataclass(frozen=True)
class AuditReport:
    """What a successful audit checked."""

    size: int
    root: bytes
    entries: int
    tiles: int
    checkpoints: int


@dataclass
class _TileRebuilder:
    """Rebuilds tiles from leaf hashes and compares each finished tile with the stored one."""

    store: LogStore
    tree: TreeState = field(default_factory=TreeState)
    checked: int = 0
    first_mismatch: tuple[Tile, int] | None = None

    def append(self, leaf: bytes) -> None:
        completed, _ = self.tree.append(leaf)
        for tile, hashes in completed:
            self._compare(tile, hashes)

    def finish(self) -> None:
        """Compare the partial tiles left at the end."""
        for tile in tiles_for_size(self.tree.size):
            if not tile.is_full:
                self._compare(tile, bytes(self.tree.partial.get(tile.level, b"")))

    def _compare(self, tile: Tile, rebuilt: bytes) -> None:
        self.checked += 1
        if self.first_mismatch is not None:
            return
        stored = self.store.read_tile(tile.level, tile.index)
        if stored != rebuilt:
            for position in range(len(rebuilt) // HASH_SIZE + 1):
                chunk = slice(position * HASH_SIZE, (position + 1) * HASH_SIZE)
                if stored[chunk] != rebuilt[chunk]:
                    break
            self.first_mismatch = (tile, position)


def audit_log(
    store: LogStore,
    log_key: VerifierKey,
    *,
    pinned_checkpoint: str | None = None,
    verify_envelope: EnvelopeCheck | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 2,
    chunk: int = 4096,
) -> AuditReport:
    """Audit the log in ``store`` against ``log_key``; return a report or raise :class:`AuditError`.

    ``pinned_checkpoint`` is the last checkpoint the auditor holds from outside the database
    (the data directory's file, or one fetched earlier). ``progress(done, total)`` is called
    as entries are checked. Entries are decoded and their signatures checked on ``workers``
    processes; ``verify_envelope`` must therefore be picklable (see :class:`TrustedKeys`).
    """
    # (1) Every checkpoint we hold must carry the log's valid signature.
    recorded = store.checkpoints()
    checkpoints: list[SignedCheckpoint] = []
    for i, (size, note) in enumerate(recorded):
        signed = _open(note, log_key, f"checkpoint #{i} in the database")
        if signed.size != size:  # the row's key decides which checkpoint is served as latest
            raise AuditError(f"checkpoint #{i} in the database", f"is filed under size {size} but signs {signed.size}")
        checkpoints.append(signed)
    if pinned_checkpoint is not None:
        checkpoints.append(_open(pinned_checkpoint, log_key, "pinned checkpoint"))
    if not checkpoints:
        raise AuditError("checkpoint", "the log has never published a checkpoint")
    latest = max(checkpoints, key=lambda c: c.size)

    # (2) Rollback: the store must still hold everything the latest checkpoint commits to.
    head_size, head_root = store.head()
    count = store.entry_count()
    if count < latest.size or head_size < latest.size:
        raise RollbackError(
            "log",
            f"checkpoint {latest.size} was published but the store holds {min(count, head_size)} entries: "
            f"entries {min(count, head_size)}..{latest.size - 1} were deleted (rollback)",
        )
    if count != head_size:
        raise AuditError("log head", f"head says {head_size} entries but the store holds {count}")

    rebuilder = _TileRebuilder(store)
    # (3)(4) run in worker processes (decoding canonical JSON holds the GIL), a few chunks
    # ahead, while this process rebuilds the tiles (5); a small log is checked in-process.
    in_process = workers <= 1 or head_size <= 2 * chunk
    with _pool(workers, in_process) as pool:
        expected = 0
        entries = store.iter_entries(chunk=chunk)
        in_flight: deque[list[Future[None]]] = deque()
        while block := list(islice(entries, chunk)):
            in_flight.append(_check_entries(pool, block, verify_envelope, workers))
            for index, data in block:
                if index != expected:  # (3) no gaps
                    raise AuditError(f"entry {expected}", "is missing from the store")
                rebuilder.append(leaf_hash(data))  # (5)
                expected += 1
            while len(in_flight) > _CHUNKS_AHEAD:
                _raise_first_bad(in_flight.popleft())
            if progress is not None:
                progress(expected, head_size)
        while in_flight:
            _raise_first_bad(in_flight.popleft())
    rebuilder.finish()
    rebuilt_root = rebuilder.tree.root()

    # (5)(6) Decide whether an entry or a tile was altered: entries that still hash to the
    # checkpoint's root are authentic, so a mismatch is then in the tile.
    root_at_latest = _root_at(rebuilder, latest.size, store) if rebuilder.first_mismatch is None else None
    if rebuilder.first_mismatch is not None:
        tile, position = rebuilder.first_mismatch
        where = f"tile {tile.level}/{tile.path.split('/', 2)[2]}"
        if rebuilt_root == head_root and (latest.size != head_size or rebuilt_root == latest.root):
            raise AuditError(where, f"hash {position} differs from the tile rebuilt from the entries")
        if tile.level == 0:
            index = tile.index * TILE_WIDTH + position
            raise AuditError(f"entry {index}", f"its leaf hash differs from hash {position} of {where}")
        raise AuditError(where, f"hash {position} differs from the tile rebuilt from the entries")
    if rebuilt_root != head_root:
        raise AuditError("log head", "the stored root differs from the root rebuilt from the entries")
    if root_at_latest != latest.root:
        raise AuditError("checkpoint", f"the root of the first {latest.size} entries differs from the checkpoint's")

    # (7) Every checkpoint ever signed must describe a prefix of this tree.
    hashes = TileHashes(store.read_tile)
    for signed in checkpoints:
        if merkle_root(signed.size, hashes) != signed.root:
            raise AuditError(f"checkpoint {signed.size}", "is not a prefix of the log: the log signed a fork")
    return AuditReport(head_size, rebuilt_root, expected, rebuilder.checked, len(checkpoints))


def _open(note: str, log_key: VerifierKey, where: str) -> SignedCheckpoint:
    try:
        return open_checkpoint(note, log_key)
    except CheckpointError as exc:
        raise AuditError(where, str(exc)) from exc


def _root_at(rebuilder: _TileRebuilder, size: int, store: LogStore) -> bytes:
    if size == rebuilder.tree.size:
        return rebuilder.tree.root()
    return merkle_root(size, TileHashes(store.read_tile))


_CHUNKS_AHEAD = 4


class TrustedKeys:
    """An :data:`EnvelopeCheck` that accepts envelopes signed only by a fixed set of keys.

    Picklable, so the audit can run it in worker processes.
    """

    def __init__(self, keys: Mapping[str, VerifierKey]) -> None:
        self.keys = dict(keys)

    def __call__(self, index: int, entry: LogEntry) -> None:
        del index  # the same keys are trusted at every index
        if not self.keys:
            raise SignatureError("no trusted signers are configured")
        dsse.verify(entry.envelope, self.keys)


class _InlineExecutor(Executor):
    """Runs each task at submission, for logs too small to be worth worker processes."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered to the caller through the future
            future.set_exception(exc)
        return future


def _pool(workers: int, in_process: bool) -> Executor:
    if in_process:
        return _InlineExecutor()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _raise_first_bad(futures: list[Future[None]]) -> None:
    for future in futures:
        future.result()  # raises the first bad entry, in index order


def _check_entries(
    pool: Executor, block: list[tuple[int, bytes]], verify: EnvelopeCheck | None, workers: int
) -> list[Future[None]]:
    step = -(-len(block) // max(1, workers))
    return [pool.submit(_check_slice, block[i : i + step], verify) for i in range(0, len(block), step)]


def _check_slice(block: list[tuple[int, bytes]], verify: EnvelopeCheck | None) -> None:
    for index, data in block:
        try:
            entry = LogEntry.decode(data)
            if verify is not None:
                verify(index, entry)
        except LedgerError as exc:  # EntryError, SignatureError, …
            raise AuditError(f"entry {index}", str(exc)) from exc
