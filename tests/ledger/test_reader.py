"""The reader keeps the tiles it served: they never change, so a second request reads nothing."""

from __future__ import annotations

from sqlalchemy.engine import Connection, Engine

from ledger.reader import LogReader
from ledger.tiles import Tile
from tests.builders import sequencer, statement


def test_a_served_tile_is_answered_again_without_the_store_and_the_cache_is_bounded(engine: Engine) -> None:
    seq = sequencer(engine)
    seq.append([statement(n) for n in range(600)])
    reads: list[tuple[int, int]] = []
    reader = LogReader(seq.store, cache_bytes=2 * 256 * 32)  # room for two full level-0 tiles
    store_read = seq.store.read_tile

    def counted(level: int, index: int, conn: Connection | None = None) -> bytes:
        reads.append((level, index))
        return store_read(level, index, conn)

    seq.store.read_tile = counted  # type: ignore[method-assign]
    first = Tile(0, 0)
    assert reader.served_tile(first) is None  # never served: the caller must check it is published
    data = reader.tile(first, 600)
    assert data is not None and len(data) == 256 * 32
    assert reader.served_tile(first) == data and reads == [(0, 0)]
    assert reader.served_tile(Tile(0, 2, 88)) is None
    reader.tile(Tile(0, 1), 600)
    reader.tile(Tile(0, 2, 88), 600)  # a third tile: the least recently served one goes
    assert reader.served_tile(first) is None
    assert reader.served_tile(Tile(0, 1)) is not None and reader.served_tile(Tile(0, 2, 88)) is not None
    assert reader.tile(Tile(0, 3), 600) is None  # beyond the tree: nothing served, nothing kept
    assert reader.served_tile(Tile(0, 3)) is None
