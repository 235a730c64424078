"""SQL storage of the log: entries, tiles, the head and published checkpoints.

Tables (SQLite and PostgreSQL alike):

- ``log_entries(idx, data)`` — one row per entry;
- ``log_tiles(level, idx, hashes)`` — one row per C2SP tile, 256 hashes when full; the
  rightmost partial tile of each level is updated in place as the tree grows;
- ``log_head(id, size, root)`` — the tree head, written in the same transaction as the
  entries, and locked by every writer;
- ``log_checkpoints(size, note)`` — every checkpoint the log has signed, with the witness
  cosignatures collected for it.

Reads here are plain; all writes go through :mod:`ledger.sequencer`, except the cosignature
lines :mod:`ledger.witnessing` appends to a published note.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.database import upsert_insert
from ledger.merkle import EMPTY_ROOT, HASH_SIZE

metadata = sa.MetaData()

log_entries = sa.Table(
    "log_entries",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

log_tiles = sa.Table(
    "log_tiles",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

log_head = sa.Table(
    "log_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
)

log_checkpoints = sa.Table(
    "log_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("note", sa.Text, nullable=False),
)

HEAD_ID = 1


LATEST_CHECKPOINT = f"SELECT size, note FROM {log_checkpoints.name} ORDER BY size DESC LIMIT 1"
"""The largest recorded checkpoint, as SQL text: the sequencer sends it on the driver too."""


def create_tables(engine: Engine) -> None:
    """Create the log tables and the empty head if they do not exist."""
    metadata.create_all(engine)
    # INSERT … ON CONFLICT DO NOTHING: writers starting together create the head once.
    head = upsert_insert(engine, log_head).values(id=HEAD_ID, size=0, root=EMPTY_ROOT)
    with engine.begin() as conn:
        conn.execute(head.on_conflict_do_nothing(index_elements=["id"]))


class LogStore:
    """Read access to a log's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def head(self, conn: Connection | None = None) -> tuple[int, bytes]:
        """Return the committed (size, root) of the tree."""
        query = sa.select(log_head.c.size, log_head.c.root).where(log_head.c.id == HEAD_ID)
        if conn is not None:
            row = conn.execute(query).one()
        else:
            with self.engine.connect() as c:
                row = c.execute(query).one()
        return int(row.size), bytes(row.root)

    def read_tile(self, level: int, index: int, conn: Connection | None = None) -> bytes:
        """Return the stored hashes of tile (level, index), or ``b""`` if there is none."""
        query = sa.select(log_tiles.c.hashes).where(log_tiles.c.level == level, log_tiles.c.idx == index)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.engine.connect() as c:
                row = c.execute(query).first()
        return bytes(row.hashes) if row else b""

    def read_entries(self, start: int, end: int) -> list[bytes]:
        """Return entries [start, end) in order (fewer if the store holds fewer)."""
        query = (
            sa.select(log_entries.c.data)
            .where(log_entries.c.idx >= start, log_entries.c.idx < end)
            .order_by(log_entries.c.idx)
        )
        with self.engine.connect() as conn:
            return [bytes(row.data) for row in conn.execute(query)]

    def entry(self, index: int) -> bytes | None:
        """Return entry ``index``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(log_entries.c.data).where(log_entries.c.idx == index)).first()
        return bytes(row.data) if row else None

    def iter_entries(self, *, start: int = 0, chunk: int = 4096) -> Iterator[tuple[int, bytes]]:
        """Yield every stored (index, entry) from ``start`` on, in index order, ``chunk`` rows at a time."""
        last = start - 1
        while True:
            query = (
                sa.select(log_entries.c.idx, log_entries.c.data)
                .where(log_entries.c.idx > last)
                .order_by(log_entries.c.idx)
                .limit(chunk)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            for row in rows:
                yield int(row.idx), bytes(row.data)
            last = int(rows[-1].idx)

    def entry_count(self) -> int:
        """Return how many entry rows are stored (the audit compares it with the head)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(log_entries)).scalar_one())

    def iter_tiles(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield every stored (level, index, hashes) row."""
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(log_tiles).order_by(log_tiles.c.level, log_tiles.c.idx)):
                yield int(row.level), int(row.idx), bytes(row.hashes)

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """Return (size column, note) of the largest checkpoint recorded in the database, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(LATEST_CHECKPOINT)).first()
        return (int(row.size), str(row.note)) if row else None

    def recent_checkpoints(self, limit: int) -> list[tuple[int, str]]:
        """Return the ``limit`` largest recorded (size column, note), largest first."""
        query = (
            sa.select(log_checkpoints.c.size, log_checkpoints.c.note)
            .order_by(log_checkpoints.c.size.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(r.size), str(r.note)) for r in conn.execute(query)]

    def checkpoint_at(self, size: int) -> str | None:
        """Return the checkpoint note recorded for tree ``size``, if the log signed one."""
        query = sa.select(log_checkpoints.c.note).where(log_checkpoints.c.size == size)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return str(row.note) if row else None

    def checkpoints(self) -> list[tuple[int, str]]:
        """Return every recorded (size column, checkpoint note), smallest size first."""
        query = sa.select(log_checkpoints.c.size, log_checkpoints.c.note).order_by(log_checkpoints.c.size)
        with self.engine.connect() as conn:
            return [(int(r.size), str(r.note)) for r in conn.execute(query)]


def hashes_in(data: bytes) -> int:
    """Return how many hashes a tile row holds."""
    return len(data) // HASH_SIZE
