"""The sequencer on SQLite and PostgreSQL: appends, tiles, checkpoints and the safety rules."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.checkpoint import open_checkpoint
from ledger.database import create_engine
from ledger.errors import ForkError, PublishError, StoreBehindError
from ledger.merkle import EMPTY_ROOT, leaf_hash, leaf_hashes_subtree, root, verify_consistency, verify_inclusion
from ledger.reader import LogReader
from ledger.store import LogStore, log_tiles
from ledger.tiles import TILE_WIDTH, Tile, decode_bundle
from tests.builders import log_key, sequencer, statement


def _entries(store: LogStore) -> list[bytes]:
    return [data for _, data in store.iter_entries()]


def test_appends_build_the_rfc9162_tree_and_c2sp_tiles(engine: Engine, tmp_path: Path) -> None:
    seq = sequencer(engine, tmp_path / "checkpoint")
    indices = []
    for start in range(0, 700, 97):  # batches that straddle tile boundaries
        indices += seq.append([statement(n) for n in range(start, min(start + 97, 700))])
    assert indices == list(range(700))
    entries = _entries(seq.store)
    leaves = [leaf_hash(e) for e in entries]
    expected_root = root(700, leaf_hashes_subtree(leaves))
    assert seq.published.size == 700
    assert seq.published.root == expected_root
    assert seq.store.head() == (700, expected_root)
    # Level 0: two full tiles and a partial of 700 − 512 = 188; level 1: a partial of width 2.
    reader = LogReader(seq.store)
    assert reader.tile(Tile(0, 0), 700) == b"".join(leaves[:256])
    assert reader.tile(Tile(0, 2, 188), 700) == b"".join(leaves[512:700])
    assert reader.tile(Tile(0, 2), 700) is None  # not full yet
    assert reader.tile(Tile(0, 2, 189), 700) is None  # beyond the tree
    level1 = reader.tile(Tile(1, 0, 2), 700)
    assert level1 is not None
    assert level1[:32] == leaf_hashes_subtree(leaves)(8, 0)
    assert decode_bundle(reader.tile(Tile(-1, 1), 700) or b"") == entries[256:512]
    # Partial tiles of earlier checkpoints are prefixes of the stored tile.
    assert reader.tile(Tile(0, 2, 10), 700) == b"".join(leaves[512:522])
    # Proofs from tiles verify against the published root.
    for index in (0, 255, 256, 511, 699):
        verify_inclusion(index, 700, leaves[index], reader.inclusion_proof(index, 700), expected_root)
    # The checkpoint file outside the database holds the same signed checkpoint.
    on_disk = open_checkpoint((tmp_path / "checkpoint").read_text(), log_key().verifier)
    assert on_disk.checkpoint == seq.published.checkpoint


def test_every_published_checkpoint_is_consistent_with_the_next(engine: Engine) -> None:
    seq = sequencer(engine)
    published = []
    for batch in range(12):
        seq.append([statement(batch * 50 + i) for i in range(50)])
        published.append(seq.published)
    reader = LogReader(seq.store)
    for older, newer in itertools.pairwise(published):
        proof = reader.consistency_proof(older.size, newer.size)
        verify_consistency(older.size, newer.size, older.root, newer.root, proof)


def test_a_failed_caller_transaction_appends_nothing(engine: Engine) -> None:
    seq = sequencer(engine)
    seq.append([statement(0)])
    before = seq.published
    with pytest.raises(RuntimeError), seq.batch() as batch:
        batch.append(statement(1))
        batch.connection.execute(sa.text("SELECT 1"))
        raise RuntimeError("the registry refused the event")
    assert seq.store.head()[0] == 1
    assert seq.store.entry_count() == 1
    assert seq.published == before
    assert seq.append([statement(2)]) == [1]


def test_the_caller_state_change_commits_with_the_append(engine: Engine) -> None:
    table = sa.Table("account_state", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    table.create(engine)
    seq = sequencer(engine)
    with seq.batch() as batch:
        batch.connection.execute(table.insert().values(id=1))
        batch.append(statement(0))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1
    assert seq.published.size == 1


def test_reopening_resumes_the_tree(engine: Engine, tmp_path: Path) -> None:
    seq = sequencer(engine, tmp_path / "checkpoint")
    seq.append([statement(n) for n in range(300)])
    reopened = sequencer(engine, tmp_path / "checkpoint")
    assert reopened.published == seq.published
    reopened.append([statement(n) for n in range(300, 600)])
    leaves = [leaf_hash(e) for e in _entries(reopened.store)]
    assert reopened.published.root == root(600, leaf_hashes_subtree(leaves))


def test_two_writers_on_one_database_extend_one_tree(engine: Engine) -> None:
    first, second = sequencer(engine), sequencer(engine)
    for n in range(10):
        (first if n % 2 else second).append([statement(n * 30 + i) for i in range(30)])
    leaves = [leaf_hash(e) for e in _entries(first.store)]
    assert len(leaves) == 300
    assert first.store.head() == (300, root(300, leaf_hashes_subtree(leaves)))
    assert max(first.published.size, second.published.size) == 300


def test_a_store_behind_the_published_checkpoint_is_refused(tmp_path: Path) -> None:
    database, backup, checkpoint = tmp_path / "log.db", tmp_path / "backup.db", tmp_path / "checkpoint"
    engine = create_engine(f"sqlite:///{database}")
    seq = sequencer(engine, checkpoint)
    seq.append([statement(n) for n in range(10)])
    engine.dispose()
    shutil.copy(database, backup)
    engine = create_engine(f"sqlite:///{database}")
    sequencer(engine, checkpoint).append([statement(n) for n in range(10, 20)])
    engine.dispose()
    shutil.copy(backup, database)  # restore the old backup: the checkpoint file remembers size 20
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{database}")
    with pytest.raises(StoreBehindError) as refused:
        sequencer(engine, checkpoint)
    assert (refused.value.store_size, refused.value.checkpoint_size) == (10, 20)
    engine.dispose()


def test_deleted_entries_are_refused_on_both_databases(engine: Engine, tmp_path: Path) -> None:
    seq = sequencer(engine, tmp_path / "checkpoint")
    seq.append([statement(n) for n in range(40)])
    with engine.begin() as conn:  # an empty database where the log used to be
        conn.execute(sa.text("DELETE FROM log_entries"))
        conn.execute(sa.text("DELETE FROM log_checkpoints WHERE size > 0"))
        conn.execute(sa.text("DELETE FROM log_tiles"))
        conn.execute(sa.text("UPDATE log_head SET size = 0, root = :root"), {"root": EMPTY_ROOT})
    with pytest.raises(StoreBehindError):
        sequencer(engine, tmp_path / "checkpoint")


def test_a_store_that_disagrees_with_the_checkpoint_is_refused(engine: Engine, tmp_path: Path) -> None:
    seq = sequencer(engine, tmp_path / "checkpoint")
    seq.append([statement(n) for n in range(20)])
    with engine.begin() as conn:
        data = conn.execute(sa.select(log_tiles.c.hashes).where(log_tiles.c.level == 0)).scalar_one()
        tampered = bytes([data[0] ^ 1]) + data[1:]
        conn.execute(log_tiles.update().where(log_tiles.c.level == 0).values(hashes=tampered))
    with pytest.raises(ForkError):
        sequencer(engine, tmp_path / "checkpoint")


def test_tiles_are_one_row_per_level_and_index(engine: Engine) -> None:
    seq = sequencer(engine)
    seq.append([statement(n) for n in range(TILE_WIDTH + 1)])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(log_tiles.c.level, log_tiles.c.idx, sa.func.length(log_tiles.c.hashes))).all()
    assert sorted((r[0], r[1], r[2]) for r in rows) == [(0, 0, 8192), (0, 1, 32), (1, 0, 32)]


def test_a_publish_failure_after_commit_says_the_entries_are_committed(engine: Engine, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    seq = sequencer(engine, checkpoint)
    seq.append([statement(0), statement(1)])
    (tmp_path / "not-a-directory").write_text("")
    seq.checkpoint_path = tmp_path / "not-a-directory" / "checkpoint"  # writing it now fails
    with pytest.raises(PublishError) as failed:
        seq.append([statement(2), statement(3), statement(4)])
    seq.checkpoint_path = checkpoint
    assert (failed.value.first, failed.value.count) == (2, 3)
    assert seq.store.head()[0] == 5  # durable, and covered by the next checkpoint
    seq.append([statement(5)])
    assert seq.published.size == 6
