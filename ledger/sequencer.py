"""The sequencer: the only writer of the log.

It appends batches of entries inside a database transaction that the caller shares (so the
registry commits its state change together with the append, or neither), and upholds the
safety rules of DESIGN.md §3:

1. a checkpoint is signed only after the transaction that holds its entries has committed
   (SQLite ``synchronous=FULL`` / PostgreSQL ``synchronous_commit=on``), so every signed
   checkpoint is durable;
2. before signing, the new tree is proven consistent with the last published checkpoint
   (RFC 9162 §2.1.4), so the log never signs two histories;
3. the last published checkpoint is kept outside the database too, and a store that is
   behind it, or disagrees with it, is refused at open (a restored backup would fork).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, sign_checkpoint
from ledger.database import driver_queries, insert_rows, is_sqlite, pipelined
from ledger.dsse import Envelope
from ledger.entry import LogEntry, format_time
from ledger.errors import EntryError, ForkError, ProofError, PublishError, StoreBehindError
from ledger.keys import SignerKey
from ledger.merkle import (
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
)
from ledger.merkle import root as merkle_root
from ledger.store import (
    HEAD_ID,
    LATEST_CHECKPOINT,
    LogStore,
    create_tables,
    log_checkpoints,
    log_entries,
    log_head,
    log_tiles,
)
from ledger.tiles import MAX_ENTRY_SIZE, TILE_HEIGHT, TILE_WIDTH, Tile, TileHashes, tile_width_at

Clock = Callable[[], datetime]


@dataclass
class TreeState:
    """The right edge of the committed tree: its compact range and rightmost partial tiles."""

    compact: CompactRange = field(default_factory=CompactRange)
    partial: dict[int, bytearray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.compact.size

    def root(self) -> bytes:
        return self.compact.root()

    def copy(self) -> TreeState:
        return TreeState(self.compact.copy(), {level: bytearray(h) for level, h in self.partial.items()})

    def append(self, leaf: bytes) -> tuple[list[tuple[Tile, bytes]], set[int]]:
        """Append a leaf hash; return the tiles it completed and the levels whose partial tile grew."""
        completed: list[tuple[Tile, bytes]] = []
        grown: set[int] = set()
        for height, index, node in self.compact.append(leaf):
            if height % TILE_HEIGHT:
                continue
            # A complete subtree of height 8·L is the next hash of the level-L tile.
            level = height // TILE_HEIGHT
            hashes = self.partial.setdefault(level, bytearray())
            hashes += node
            if len(hashes) == TILE_WIDTH * HASH_SIZE:
                completed.append((Tile(level, index // TILE_WIDTH), bytes(hashes)))
                self.partial[level] = bytearray()
            else:
                grown.add(level)
        return completed, grown

    def partial_tile(self, level: int) -> Tile:
        """The coordinates of the rightmost partial tile at ``level``."""
        hashes_at_level = self.size >> (TILE_HEIGHT * level)
        return Tile(level, hashes_at_level // TILE_WIDTH, hashes_at_level % TILE_WIDTH)

    @classmethod
    def load(cls, conn: Connection, store: LogStore, size: int) -> TreeState:
        """Rebuild the right edge of the tree of ``size`` from its partial tiles."""
        state = cls()
        nodes: list[tuple[int, bytes]] = []
        level = 0
        while size >> (TILE_HEIGHT * level):
            hashes_at_level = size >> (TILE_HEIGHT * level)
            index, width = divmod(hashes_at_level, TILE_WIDTH)
            data = store.read_tile(level, index, conn)[: width * HASH_SIZE] if width else b""
            if len(data) != width * HASH_SIZE:
                raise ForkError(f"tile {level}/{index} holds {len(data) // HASH_SIZE} hashes; the head needs {width}")
            state.partial[level] = bytearray(data)
            level_nodes: list[tuple[int, bytes]] = []
            offset = 0
            # The partial tile's width, in binary, gives the complete subtrees it holds.
            for bit in reversed(range(TILE_HEIGHT)):
                if width >> bit & 1:
                    chunk = [
                        data[i : i + HASH_SIZE]
                        for i in range(offset * HASH_SIZE, (offset + (1 << bit)) * HASH_SIZE, HASH_SIZE)
                    ]
                    level_nodes.append((TILE_HEIGHT * level + bit, _fold(chunk)))
                    offset += 1 << bit
            nodes = level_nodes + nodes
            level += 1
        state.compact = CompactRange(size, nodes)
        return state


def _fold(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


class Batch:
    """Entries being appended inside one open transaction.

    Entries are buffered and written, with their tiles and the new head, when the
    transaction commits; :meth:`mark` and :meth:`rollback_to` undo the entries of one
    caller whose savepoint rolled back.
    """

    def __init__(self, connection: Connection, start: int, logged_at: str) -> None:
        self.connection = connection
        self.start = start
        self.logged_at = logged_at
        self._pending: list[bytes] = []

    def append(self, envelope: Envelope) -> int:
        """Append an envelope as a log entry; return the index it will have."""
        return self.append_entry(LogEntry(envelope, self.logged_at).encode())

    def append_entry(self, data: bytes) -> int:
        """Append already-encoded entry bytes; return the index they will have."""
        if len(data) > MAX_ENTRY_SIZE:
            raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
        self._pending.append(data)
        return self.start + len(self._pending) - 1

    @property
    def entries(self) -> tuple[bytes, ...]:
        return tuple(self._pending)

    def entry(self, index: int) -> bytes:
        """The bytes of the pending entry that will have log index ``index``."""
        return self._pending[index - self.start]

    def mark(self) -> int:
        return len(self._pending)

    def rollback_to(self, mark: int) -> None:
        del self._pending[mark:]


class Sequencer:
    """Appends entries and publishes signed checkpoints for one log.

    Thread-safe: batches run one at a time. Several processes may share a database; each
    batch locks the head row and reloads the tree's edge if another writer moved it.
    """

    def __init__(
        self,
        engine: Engine,
        log_key: SignerKey,
        checkpoint_path: Path | None = None,
        *,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.store = LogStore(engine)
        self.log_key = log_key
        self.origin = log_key.name
        self.checkpoint_path = checkpoint_path
        self._clock = clock
        self._lock = threading.Lock()
        # Proofs at publication read the right edge from memory (edge_tile), the rest from the store.
        self._hashes = TileHashes(self.store.read_tile, edge=self.edge_tile)
        # SQLite: writers take the lock at BEGIN; readers elsewhere stay deferred (WAL).
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        create_tables(engine)
        # Read what was published before the head: a checkpoint never exceeds the committed
        # head, so another writer publishing meanwhile cannot make this store look behind.
        published = self._published_checkpoints()
        with engine.connect() as conn:
            size, stored_root = self.store.head(conn)
            self._state = TreeState.load(conn, self.store, size)
        if self._state.root() != stored_root:
            raise ForkError("the tiles do not hash to the root stored in the log head")
        self._published = self._check_published(published)
        if self._published is None or self._published.size < self._state.size:
            self._publish_or_raise()

    @property
    def published(self) -> SignedCheckpoint:
        """The latest checkpoint this log has signed."""
        assert self._published is not None  # set in __init__
        return self._published

    @property
    def size(self) -> int:
        return self._state.size

    def _published_checkpoints(self) -> list[SignedCheckpoint]:
        verifier = self.log_key.verifier
        candidates = []
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            candidates.append(open_checkpoint(self.checkpoint_path.read_text(), verifier))
        recorded = self.store.latest_checkpoint()
        if recorded is not None:
            candidates.append(open_checkpoint(recorded[1], verifier))
        return sorted(candidates, key=lambda c: c.size)

    def _check_published(self, candidates: list[SignedCheckpoint]) -> SignedCheckpoint | None:
        """Return the latest published checkpoint; refuse a store that is behind it or forked."""
        if not candidates:
            return None
        latest = candidates[-1]
        if latest.size > self._state.size:
            raise StoreBehindError(self._state.size, latest.size)
        for published in candidates:
            if published.size and self._root_at(published.size) != published.root:
                raise ForkError(f"the store's tree at size {published.size} does not match the published checkpoint")
        return latest

    def _root_at(self, size: int) -> bytes:
        return merkle_root(size, self._hashes)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Open a transaction, yield a :class:`Batch`, then commit, and publish a checkpoint.

        The caller does its own writes on ``batch.connection``; if the block raises, nothing
        is written. On return the entries are durable and covered by :attr:`published`.
        """
        with self._lock:
            with self._writer.begin() as conn:
                size, stored_root, _ = self._lock_head(conn)
                if size != self._state.size or stored_root != self._state.root():
                    self._state = TreeState.load(conn, self.store, size)  # another writer moved on
                batch = Batch(conn, size, format_time(self._clock()))
                yield batch
                state = self._write(conn, batch.entries)
            self._state = state
            if batch.entries:
                try:
                    self._publish_or_raise()
                except Exception as exc:  # whatever failed, the caller must know its entries committed
                    raise PublishError(batch.start, len(batch.entries), exc) from exc

    def edge_tile(self, level: int, index: int) -> bytes:
        """The hashes of tile ``level/index`` if it is a partial tile of the committed tree, else b"".

        Kept in memory by the writer, so that proofs of what it just appended need no read.
        """
        state = self._state  # replaced, never changed, once committed
        if state.partial_tile(level).index != index:
            return b""
        return bytes(state.partial.get(level, b""))

    def append(self, envelopes: list[Envelope]) -> list[int]:
        """Append envelopes in one batch; return their indices once published."""
        with self.batch() as batch:
            return [batch.append(e) for e in envelopes]

    def _lock_head(
        self, conn: Connection, *, with_checkpoint: bool = False
    ) -> tuple[int, bytes, tuple[int, str] | None]:
        """The head's size and root, locked; with the latest recorded checkpoint if asked.

        The transaction's first statement. In a pipeline, psycopg sends its BEGIN and both
        queries at once, instead of waiting for each answer in turn (one round trip, not
        three); SQLAlchemy's result would read before the answers arrive, so the rows come
        from the driver.
        """
        # SQLite holds the write lock since BEGIN IMMEDIATE; PostgreSQL locks the row.
        queries: list[tuple[str, tuple[int, ...]]] = [
            (_HEAD if is_sqlite(self.engine) else _HEAD_FOR_UPDATE, (HEAD_ID,))
        ]
        if with_checkpoint:
            queries.append((LATEST_CHECKPOINT, ()))
        with pipelined(conn):
            found = driver_queries(conn, queries)
        ((size, root),) = found[0]
        recorded = (int(found[1][0][0]), str(found[1][0][1])) if with_checkpoint and found[1] else None
        return int(size), bytes(root), recorded

    def _write(self, conn: Connection, entries: tuple[bytes, ...]) -> TreeState:
        state = self._state.copy()
        if not entries:
            return state
        old_size = state.size
        touched: dict[tuple[int, int], bytes] = {}
        grown: set[int] = set()
        for data in entries:
            completed, levels = state.append(leaf_hash(data))
            touched.update(((tile.level, tile.index), hashes) for tile, hashes in completed)
            grown |= levels
        for level in grown:
            tile = state.partial_tile(level)
            if tile.width:
                touched[(tile.level, tile.index)] = bytes(state.partial[level])
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        for (level, index), hashes in touched.items():
            row = {"level": level, "idx": index, "hashes": hashes}
            (updates if tile_width_at(level, index, old_size) else inserts).append(row)
        with pipelined(conn):  # writes whose answers no one reads: one round trip for all
            insert_rows(conn, log_entries, list(enumerate(entries, old_size)))
            if inserts:
                conn.execute(log_tiles.insert(), inserts)
            if updates:
                conn.execute(
                    log_tiles.update()
                    .where(log_tiles.c.level == sa.bindparam("b_level"), log_tiles.c.idx == sa.bindparam("b_idx"))
                    .values(hashes=sa.bindparam("b_hashes")),
                    [{"b_level": r["level"], "b_idx": r["idx"], "b_hashes": r["hashes"]} for r in updates],
                )
            conn.execute(log_head.update().where(log_head.c.id == HEAD_ID).values(size=state.size, root=state.root()))
        return state

    def _publish_or_raise(self) -> SignedCheckpoint:
        """Sign a checkpoint for the committed head, after proving it extends the last one.

        Runs under the head lock, so writers in other processes publish one at a time and the
        checkpoint file never goes backwards: the head may have moved past this process's
        batch, and then it is the head that gets signed (or adopted, if already signed).
        """
        with self._writer.begin() as conn:
            size, head_root, recorded = self._lock_head(conn, with_checkpoint=True)
            last = self._published
            if recorded is not None and (last is None or recorded[0] > last.size):
                last = open_checkpoint(recorded[1], self.log_key.verifier)  # another writer's
            if last is not None and last.size > size:
                raise StoreBehindError(size, last.size)
            if last is not None and last.size == size:
                if last.root != head_root:
                    raise ForkError(f"tree of size {size} has a different root from its published checkpoint")
                self._published = last
                return last
            if last is not None and last.size > 0:
                try:
                    proof = consistency_proof(last.size, size, self._hashes)
                    verify_consistency(last.size, size, last.root, head_root, proof)
                except ProofError as exc:
                    raise ForkError(
                        f"refusing to sign size {size}: not consistent with size {last.size}: {exc}"
                    ) from exc
            signed = sign_checkpoint(Checkpoint(self.origin, size, head_root), self.log_key)
            note = signed.encode()
            if self.checkpoint_path is not None:
                write_atomically(self.checkpoint_path, note)
            conn.execute(log_checkpoints.insert().values(size=size, note=note))
        self._published = signed
        return signed


_HEAD = f"SELECT size, root FROM {log_head.name} WHERE id = ?"
_HEAD_FOR_UPDATE = _HEAD + " FOR UPDATE"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file, durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # a checkpoint is public
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
