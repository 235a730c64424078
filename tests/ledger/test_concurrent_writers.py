"""Several writers on one database, as threads and as processes, at the same time."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ledger.audit import audit_log
from ledger.checkpoint import open_checkpoint
from ledger.database import create_engine
from ledger.keys import SignerKey
from ledger.sequencer import Sequencer
from tests.builders import statement
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

WRITERS = 3
ENTRIES_PER_WRITER = sum(1 + batch % 7 for batch in range(25))


def _check(url: str, key: SignerKey, checkpoint: Path) -> None:
    engine = create_engine(url)
    sequencer = Sequencer(engine, key, checkpoint)  # neither behind nor forked
    assert sequencer.size == WRITERS * ENTRIES_PER_WRITER
    report = audit_log(sequencer.store, key.verifier, pinned_checkpoint=checkpoint.read_text())
    assert report.size == WRITERS * ENTRIES_PER_WRITER
    # The file outside the database never went backwards: it holds the largest checkpoint.
    assert open_checkpoint(checkpoint.read_text(), key.verifier).size == WRITERS * ENTRIES_PER_WRITER
    engine.dispose()


def test_writer_processes_share_one_log(tmp_path: Path, database_cli_url: str) -> None:
    key = SignerKey.generate("concurrent.example/log")
    key_file, checkpoint = tmp_path / "log.key", tmp_path / "checkpoint"
    key_file.write_text(key.text())
    Sequencer(create_engine(database_cli_url), key, checkpoint)  # create the tables once
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ledger.concurrent_writer",
                database_cli_url,
                str(checkpoint),
                str(key_file),
                f"w{n}",
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors
    _check(database_cli_url, key, checkpoint)


def test_writer_threads_with_their_own_sequencers_share_one_log(
    tmp_path: Path, engine: Engine, database_cli_url: str
) -> None:
    key = SignerKey.generate("concurrent.example/log")
    checkpoint = tmp_path / "checkpoint"
    Sequencer(engine, key, checkpoint)
    failures: list[BaseException] = []

    def write(name: str) -> None:
        try:
            sequencer = Sequencer(create_engine(database_cli_url), key, checkpoint)
            for batch in range(25):
                sequencer.append([statement(hash((name, batch, i)) % 10**9) for i in range(1 + batch % 7)])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    _check(database_cli_url, key, checkpoint)
