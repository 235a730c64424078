"""Serving the log: tiles, entry bundles, proofs and receipts, within a published checkpoint.

Everything a reader gets is covered by the checkpoint it is served with: tiles and bundles
beyond the published size are not served, and proofs are computed against a published size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ledger.checkpoint import SignedCheckpoint
from ledger.errors import ProofError
from ledger.merkle import HASH_SIZE, consistency_proof, inclusion_proof
from ledger.receipt import Receipt
from ledger.store import LogStore
from ledger.tiles import TILE_WIDTH, Tile, TileHashes, TileReader, encode_bundle, tile_width_at


class LogReader:
    """Read-side view of a log store, bounded by a published checkpoint."""

    def __init__(self, store: LogStore, *, cache_bytes: int = 64 << 20, edge: TileReader | None = None) -> None:
        """``edge``: the log writer's in-memory partial tiles (:meth:`Sequencer.edge_tile`), if in this process."""
        self.store = store
        self._hashes = TileHashes(store.read_tile, edge=edge)
        # Every tile served, full or partial of a given width, never changes (C2SP tlog-tiles):
        # the most recently served ones are kept, up to ``cache_bytes``.
        self._served: OrderedDict[str, bytes] = OrderedDict()
        self._served_bytes = 0
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()

    def served_tile(self, tile: Tile) -> bytes | None:
        """The tile or bundle if it was served before (so it is published, and the same forever)."""
        with self._lock:
            data = self._served.get(tile.path)
            if data is not None:
                self._served.move_to_end(tile.path)
            return data

    def _keep(self, tile: Tile, data: bytes) -> None:
        with self._lock:
            if tile.path in self._served or len(data) > self._cache_bytes:
                return
            self._served[tile.path] = data
            self._served_bytes += len(data)
            while self._served_bytes > self._cache_bytes:
                _, dropped = self._served.popitem(last=False)
                self._served_bytes -= len(dropped)

    def tile(self, tile: Tile, published_size: int) -> bytes | None:
        """Return a hash tile or an entry bundle, or None if the published tree does not hold it.

        A partial tile of width W is served whenever the published tile is at least W wide:
        it is a prefix of the stored tile (tlog-tiles keeps partial tiles of every size for
        which a checkpoint was produced; a prefix of a wider tile is exactly that).
        """
        level = 0 if tile.level < 0 else tile.level
        available = tile_width_at(level, tile.index, published_size)
        if available < tile.width or (tile.is_full and available != TILE_WIDTH):
            return None
        if tile.level < 0:
            start = tile.index * TILE_WIDTH
            entries = self.store.read_entries(start, start + tile.width)
            data = encode_bundle(entries) if len(entries) == tile.width else None
        else:
            hashes = self.store.read_tile(tile.level, tile.index)[: tile.width * HASH_SIZE]
            data = hashes if len(hashes) == tile.width * HASH_SIZE else None
        if data is not None:
            self._keep(tile, data)
        return data

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        return inclusion_proof(index, size, self._hashes)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """Return the RFC 9162 consistency proof from ``size1`` to ``size2``."""
        return consistency_proof(size1, size2, self._hashes)

    def receipt(self, index: int, checkpoint: SignedCheckpoint, entry: bytes | None = None) -> Receipt:
        """Return a tlog-proof receipt of entry ``index`` against ``checkpoint``.

        ``entry`` is the entry's bytes when the caller has them (it just appended them);
        otherwise they are read from the store.
        """
        if not 0 <= index < checkpoint.size:
            raise ProofError(f"entry {index} is not covered by the checkpoint of size {checkpoint.size}")
        if entry is None:
            entry = self.store.entry(index)
        if entry is None:
            raise ProofError(f"entry {index} is missing from the store")
        proof = tuple(self.inclusion_proof(index, checkpoint.size))
        return Receipt(index, proof, checkpoint.encode(), entry)
