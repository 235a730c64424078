"""`registry audit` on SQLite and PostgreSQL: tampering with any entry, tile or checkpoint is named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from api.cli import app
from ledger.database import create_engine
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.note import sign
from ledger.sequencer import Sequencer
from ledger.store import log_checkpoints, log_entries, log_head, log_tiles
from registry import commands
from registry.datadir import DataDir
from registry.node import open_node
from registry.schema import accounts
from tests.builders import populated_node

runner = CliRunner()


@pytest.fixture
def demo_dir(tmp_path: Path, database_cli_url: str) -> tuple[Path, str]:
    root = tmp_path / "registry"
    populated_node(root, 300, batch_size=40, database_url=database_cli_url).close()
    return root, database_cli_url


def _audit(root: Path, url: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "--data-dir", str(root), "--database-url", url])
    return result.exit_code, " ".join(result.output.split())


def _change_byte(data: bytes, position: int, new: bytes) -> bytes:
    assert data[position : position + 1] != new
    return data[:position] + new + data[position + 1 :]


def _tamper(url: str, change: Callable[[Connection], object]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        change(conn)
    engine.dispose()


def test_a_clean_log_passes(demo_dir: tuple[Path, str]) -> None:
    code, output = _audit(*demo_dir)
    assert code == 0, output
    assert "audit passed: 300 entries" in output


@pytest.mark.parametrize("field", ["payload", "sig", "keyid", "logged_at"])
def test_one_changed_character_in_an_entry_is_named(demo_dir: tuple[Path, str], field: str) -> None:
    root, url = demo_dir

    def change(conn: Connection) -> None:
        data = conn.execute(sa.select(log_entries.c.data).where(log_entries.c.idx == 17)).scalar_one()
        position = data.index(f'"{field}":"'.encode()) + len(field) + 5  # a character inside the value
        new = b"A" if data[position : position + 1] != b"A" else b"B"
        if field == "logged_at":
            new = b"1" if data[position : position + 1] != b"1" else b"3"
        conn.execute(log_entries.update().where(log_entries.c.idx == 17).values(data=_change_byte(data, position, new)))

    _tamper(url, change)
    code, output = _audit(root, url)
    assert code == 1
    assert "audit failed at entry 17" in output


@pytest.mark.parametrize(
    ("level", "index", "where"), [(0, 0, "tile 0/000"), (0, 1, "tile 0/001.p/44"), (1, 0, "tile 1/000.p/1")]
)
def test_one_changed_byte_in_a_tile_is_named(demo_dir: tuple[Path, str], level: int, index: int, where: str) -> None:
    root, url = demo_dir

    def change(conn: Connection) -> None:
        match = (log_tiles.c.level == level) & (log_tiles.c.idx == index)
        data = conn.execute(sa.select(log_tiles.c.hashes).where(match)).scalar_one()
        conn.execute(log_tiles.update().where(match).values(hashes=_change_byte(data, 20, bytes([data[20] ^ 0x20]))))

    _tamper(url, change)
    code, output = _audit(root, url)
    assert code == 1
    assert f"audit failed at {where}" in output


def test_a_changed_character_in_the_pinned_checkpoint_is_named(demo_dir: tuple[Path, str]) -> None:
    root, url = demo_dir
    text = (root / "checkpoint").read_text()
    (root / "checkpoint").write_text(text.replace("\n300\n", "\n301\n"))
    code, output = _audit(root, url)
    assert code == 1
    assert "audit failed at pinned checkpoint" in output


def test_a_changed_character_in_a_recorded_checkpoint_is_named(demo_dir: tuple[Path, str]) -> None:
    root, url = demo_dir

    def change(conn: Connection) -> None:
        note = conn.execute(sa.select(log_checkpoints.c.note).where(log_checkpoints.c.size == 120)).scalar_one()
        tampered = note.replace("\n120\n", "\n121\n")
        conn.execute(log_checkpoints.update().where(log_checkpoints.c.size == 120).values(note=tampered))

    _tamper(url, change)
    code, output = _audit(root, url)
    assert code == 1
    assert "audit failed at checkpoint #" in output
    assert "does not verify" in output


def test_a_changed_head_root_is_named(demo_dir: tuple[Path, str]) -> None:
    root, url = demo_dir

    def change(conn: Connection) -> None:
        head = conn.execute(sa.select(log_head.c.root)).scalar_one()
        conn.execute(log_head.update().values(root=_change_byte(head, 0, bytes([head[0] ^ 1]))))

    _tamper(url, change)
    code, output = _audit(root, url)
    assert code == 1
    assert "audit failed at log head" in output


def test_deleting_the_newest_entries_is_reported_as_a_rollback(demo_dir: tuple[Path, str]) -> None:
    root, url = demo_dir
    _tamper(url, lambda conn: conn.execute(log_entries.delete().where(log_entries.c.idx >= 290)))
    code, output = _audit(root, url)
    assert code == 1
    assert "rollback" in output
    assert "entries 290..299 were deleted" in output


def _roll_back_to_280(conn: Connection) -> None:
    """Delete entries and checkpoints past 280, as if the database were restored from a backup."""
    conn.execute(log_entries.delete().where(log_entries.c.idx >= 280))
    conn.execute(log_checkpoints.delete().where(log_checkpoints.c.size > 280))


def test_a_rolled_back_database_with_its_checkpoints_is_still_caught_by_the_pinned_checkpoint(
    demo_dir: tuple[Path, str],
) -> None:
    root, url = demo_dir
    _tamper(url, _roll_back_to_280)
    code, output = _audit(root, url)
    assert code == 1
    assert "rollback" in output


def test_a_checkpoint_filed_under_another_size_is_named(demo_dir: tuple[Path, str]) -> None:
    root, url = demo_dir

    def swap(conn: Connection) -> None:  # would make the size-120 checkpoint look like the latest
        conn.execute(log_checkpoints.update().where(log_checkpoints.c.size == 120).values(size=10_000))

    _tamper(url, swap)
    code, output = _audit(root, url)
    assert code == 1
    assert "is filed under size 10000 but signs 120" in output


def test_an_independently_pinned_checkpoint_catches_a_rollback_of_the_whole_data_directory(
    demo_dir: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = demo_dir
    pinned = tmp_path / "pinned-checkpoint"
    pinned.write_text((root / "checkpoint").read_text())
    _tamper(url, _roll_back_to_280)
    (root / "checkpoint").unlink()  # whoever rolled back the database removed the file too
    code, output = _audit(root, url)
    assert code == 1  # caught only because the head row was not rolled back with the rest
    assert "no pinned checkpoint" in output
    result = runner.invoke(app, ["audit", "--data-dir", str(root), "--database-url", url, "--checkpoint", str(pinned)])
    assert result.exit_code == 1
    assert "rollback" in result.output


def test_an_edited_state_table_is_caught_by_the_replay(demo_dir: tuple[Path, str]) -> None:
    root, url = demo_dir

    def give_an_account_to_someone_else(conn: Connection) -> None:
        conn.execute(accounts.update().where(accounts.c.id == "buyer-00042").values(role="verifier"))

    _tamper(url, give_an_account_to_someone_else)
    code, output = _audit(root, url)
    assert code == 1
    assert "the registry's state differs from its log" in output
    assert "reg_accounts" in output
    assert "buyer-00042" in output


def test_an_entry_signed_by_no_account_is_caught_by_the_replay_though_the_log_is_intact(
    demo_dir: tuple[Path, str],
) -> None:
    # Appended by the log alone, past the registry's checks: the tree, tiles and checkpoints
    # are all valid, but the signer holds no key bound in the registry at that index.
    root, url = demo_dir
    engine = create_engine(url)
    sequencer = Sequencer(engine, DataDir(root).load_log_key(), root / "checkpoint")
    stranger = SignerKey.generate("stranger")
    forged = commands.open_account(
        sequencer.origin, operator="operator", account="mallory", role="operator", name="M", keys=["A" * 43 + "="]
    )
    sequencer.append([commands.sign(forged, [stranger])])
    engine.dispose()
    code, output = _audit(root, url)
    assert code == 1  # the served state has not read the entry yet
    assert "the state reflects 300 entries; the log holds 301" in output
    open_node(root, database_url=url).close()  # the registry reads it: the entry is void, and named
    code, output = _audit(root, url)
    assert code == 1
    assert "void entry 300.0 (blocking, void-entry)" in output
    assert "bound to no account" in output
    assert "the log holds 1 entry that the registry's rules refuse" in output


WITNESS = SignerKey.generate("witness.example/w", ALG_COSIGNATURE_V1)


def _policy_file(root: Path, file: Path, quorum: str = "w") -> Path:
    file.write_text(
        f"log {(root / 'log.vkey').read_text().strip()}\nwitness w {WITNESS.verifier.text()}\nquorum {quorum}\n"
    )
    return file


def _audit_with_policy(root: Path, url: str, policy: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["audit", "--data-dir", str(root), "--database-url", url, "--policy", str(policy), *extra]
    )
    return result.exit_code, " ".join(result.output.split())


def _cosign_latest_recorded(url: str) -> None:
    def cosign(conn: Connection) -> None:
        size, note = conn.execute(
            sa.select(log_checkpoints.c.size, log_checkpoints.c.note).order_by(log_checkpoints.c.size.desc())
        ).first() or (0, "")
        line = sign(note.split("\n\n")[0] + "\n", [WITNESS], timestamp=1_700_000_000).signatures[0].line()
        conn.execute(log_checkpoints.update().where(log_checkpoints.c.size == size).values(note=note + line))

    _tamper(url, cosign)


def test_a_latest_checkpoint_short_of_the_policy_quorum_is_refused(demo_dir: tuple[Path, str], tmp_path: Path) -> None:
    root, url = demo_dir
    code, output = _audit_with_policy(root, url, _policy_file(root, tmp_path / "policy"))
    assert code == 1
    assert "audit failed at latest checkpoint (size 300): does not meet the policy" in output
    assert "witness w did not cosign" in output


@pytest.fixture
def cosigned(demo_dir: tuple[Path, str], tmp_path: Path) -> tuple[Path, str, Path]:
    """The demo registry, its latest checkpoint cosigned by the policy's witness, and the policy."""
    root, url = demo_dir
    _cosign_latest_recorded(url)
    return root, url, _policy_file(root, tmp_path / "policy")


def test_the_policy_supplies_the_log_key_and_a_cosigned_checkpoint_passes(cosigned: tuple[Path, str, Path]) -> None:
    root, url, policy = cosigned
    (root / "log.vkey").unlink()  # the key comes from the policy, not from the data directory
    code, output = _audit_with_policy(root, url, policy)
    assert code == 0, output
    assert "audit passed: 300 entries" in output


def test_a_pinned_checkpoint_brought_by_the_auditor_must_meet_the_policy(
    cosigned: tuple[Path, str, Path], tmp_path: Path
) -> None:
    root, url, policy = cosigned
    pinned = tmp_path / "pinned"
    pinned.write_text((root / "checkpoint").read_text())  # the log's signature only
    code, output = _audit_with_policy(root, url, policy, "--checkpoint", str(pinned))
    assert code == 1
    assert "audit failed at pinned checkpoint: does not meet the policy" in output


def test_a_malformed_policy_names_its_line(demo_dir: tuple[Path, str], tmp_path: Path) -> None:
    root, url = demo_dir
    code, output = _audit_with_policy(root, url, _policy_file(root, tmp_path / "policy", quorum="nobody"))
    assert code == 1
    assert "policy line 3: unknown member 'nobody'" in output
