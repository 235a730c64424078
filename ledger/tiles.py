"""C2SP tlog-tiles: tile coordinates, paths, and proof hashes read from tiles.

A tile at level L, index N holds up to 256 consecutive hashes at tree height 8·L: at level
0 the leaf hashes, above that the root of each *full* tile of the level below. The tree of
size s has, at each level, ``floor(s / 256**L) mod 256`` hashes in its rightmost partial
tile (tlog-tiles § "Partial Tiles"). Entry bundles share level 0's coordinates.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ledger.errors import ProofError
from ledger.merkle import HASH_SIZE, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes when full
MAX_ENTRY_SIZE = 0xFFFF  # entry bundles prefix each entry with a big-endian uint16 length


@dataclass(frozen=True, order=True)
class Tile:
    """A tile's coordinates: ``level`` (or ``-1`` for an entry bundle), ``index`` and ``width``."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The tlog-tiles path, e.g. ``tile/0/x001/234.p/7`` or ``tile/entries/000``."""
        level = "entries" if self.level < 0 else str(self.level)
        suffix = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{suffix}"


def encode_index(index: int) -> str:
    """Encode a tile index as zero-padded 3-digit elements, all but the last prefixed ``x``."""
    digits = f"{index:03d}"
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


_MAX_INDEX_GROUPS = 7  # 2**63 has 19 digits
_PATH = re.compile(r"^(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?$")


def parse_tile_path(level: str, rest: str) -> Tile:
    """Parse ``<L>`` and ``<N>[.p/<W>]`` of a tile or entries path; raise ValueError if invalid."""
    if level == "entries":
        lvl = -1
    elif re.fullmatch(r"0|[1-9][0-9]?", level) and int(level) <= 63:
        lvl = int(level)
    else:
        raise ValueError(f"invalid tile level {level!r}")
    match = _PATH.match(rest)
    if not match:
        raise ValueError(f"invalid tile index {rest!r}")
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise ValueError(f"partial tile width {width} must be between 1 and 255")
    if match["index"].count("/") > _MAX_INDEX_GROUPS - 1:
        raise ValueError("tile index is too long")
    tile = Tile(lvl, int(match["index"].replace("x", "").replace("/", "")), width)
    # One tile, one path: refuse leading zero groups such as x000/001 (as Go's tlog does).
    if tile.path != f"tile/{level}/{rest}":
        raise ValueError(f"tile path is not canonical; expected {tile.path}")
    return tile


def tile_width_at(level: int, index: int, size: int) -> int:
    """Return the width of tile (level, index) in the tree of ``size``: 0 if it does not exist yet."""
    hashes_at_level = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH))


def tiles_for_size(size: int) -> Iterator[Tile]:
    """Yield every hash tile of the tree of ``size``, level by level, full tiles then the partial."""
    level = 0
    while True:
        hashes_at_level = size >> (TILE_HEIGHT * level)
        if hashes_at_level == 0:
            return
        for index in range(-(-hashes_at_level // TILE_WIDTH)):
            yield Tile(level, index, tile_width_at(level, index, size))
        level += 1


TileReader = Callable[[int, int], bytes]
"""``read(level, index)``: the stored hashes of a tile (full or the current partial)."""


class TileHashes:
    """Answers ``subtree(height, index)`` for proofs, from tiles.

    A subtree of height h lives in the tile at level ``h // 8``; its hash is computed from
    that tile's hashes below it. Each tile is read once and kept expanded (every complete
    node above its hashes) in an LRU bounded by ``cache_bytes``. A partial tile is kept
    too: the log only appends, so a stored tile only ever grows and a cached prefix stays
    true; it is read again only when a proof needs more hashes than the cached prefix has.
    """

    def __init__(self, read: TileReader, *, cache_bytes: int = 256 << 20, edge: TileReader | None = None) -> None:
        """``edge``: the log writer's own copy of its right edge's partial tiles (b"" for any
        other tile), asked before ``read``, which is asked only when it is short (another
        writer went on)."""
        self._read = read
        self._edge = edge
        self._cache: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._lock = threading.Lock()  # request threads share one cache

    def __call__(self, height: int, index: int) -> bytes:
        level, within = divmod(height, TILE_HEIGHT)
        first = index << within  # position, in tile-level hashes, of the subtree's first hash
        tile_index, offset = divmod(first, TILE_WIDTH)
        levels = self._expanded(level, tile_index, offset + (1 << within))
        position = (offset >> within) * HASH_SIZE
        return levels[within][position : position + HASH_SIZE]

    def _expanded(self, level: int, index: int, needed: int) -> list[bytes]:
        with self._lock:
            return self._expanded_locked(level, index, needed)

    def _expanded_locked(self, level: int, index: int, needed: int) -> list[bytes]:
        key = (level, index)
        cached = self._cache.get(key)
        if cached is not None and len(cached[0]) >= needed * HASH_SIZE:
            self._cache.move_to_end(key)
            return cached
        data = self._edge(level, index) if self._edge is not None else b""
        if len(data) // HASH_SIZE < needed:
            data = self._read(level, index)
        if len(data) % HASH_SIZE or len(data) // HASH_SIZE < needed:
            raise ProofError(f"tile {level}/{index} holds {len(data) // HASH_SIZE} hashes, {needed} needed")
        expanded = expand_tile(data)
        if cached is not None:
            self._cached_bytes -= sum(map(len, cached))
        self._cache[key] = expanded
        self._cache.move_to_end(key)
        self._cached_bytes += sum(map(len, expanded))
        while self._cached_bytes > self._cache_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= sum(map(len, evicted))
        return expanded


def expand_tile(data: bytes) -> list[bytes]:
    """Return a tile's hashes and every complete node above them, one bytes string per height.

    ``result[h]`` concatenates the hashes of the complete height-h subtrees of the tile.
    """
    levels = [data]
    while len(levels) <= TILE_HEIGHT:
        below = levels[-1]
        pairs = len(below) // (2 * HASH_SIZE)
        levels.append(
            b"".join(node_hash(below[i * 64 : i * 64 + 32], below[i * 64 + 32 : i * 64 + 64]) for i in range(pairs))
        )
    return levels


def tile_root(data: bytes) -> bytes:
    """Return the hash of a full tile: the root of its height-8 subtree."""
    if len(data) != TILE_WIDTH * HASH_SIZE:
        raise ValueError("only a full tile has a root")
    return expand_tile(data)[TILE_HEIGHT]


def encode_bundle(entries: list[bytes]) -> bytes:
    """Return an entry bundle: each entry prefixed with its big-endian uint16 length."""
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def decode_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into entries; raise ValueError if it is truncated."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("entry bundle truncated in a length prefix")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise ValueError("entry bundle truncated in an entry")
        entries.append(data[pos : pos + length])
        pos += length
    return entries
