"""Crash safety: SIGKILL in the middle of sustained appends loses nothing that was acknowledged.

After each kill the log reopens (the store is not behind its checkpoint), every acknowledged
entry is there, no batch is half visible, and the next checkpoint is consistent with every
checkpoint published before the crash.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger import canonical
from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.database import create_engine
from ledger.entry import LogEntry
from ledger.keys import SignerKey
from ledger.merkle import verify_consistency
from ledger.reader import LogReader
from ledger.sequencer import Sequencer
from registry.statements import sign_statement
from tests.conftest import ROOT
from tests.ledger.crash_writer import batch_size

pytestmark = pytest.mark.slow

ORIGIN = "crash.example/log"


def _run_and_kill(url: str, checkpoint: Path, key_file: Path, first_batch: int, seconds: float) -> list[str]:
    """Run the writer for ``seconds``, SIGKILL it, and return its acknowledgement lines."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.crash_writer", url, str(checkpoint), str(key_file), str(first_batch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    acks: list[str] = []
    deadline = time.monotonic() + 60
    started: float | None = None
    while time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        acks.append(line)
        started = started or time.monotonic()
        if time.monotonic() - started >= seconds:
            break
    os.kill(writer.pid, signal.SIGKILL)  # no clean shutdown: mid-transaction, mid-checkpoint
    rest, errors = writer.communicate()
    acks += rest.splitlines(keepends=True)  # lines printed before the kill are acknowledgements too
    assert len(acks) > 20, f"the writer made too little progress: {errors}"
    return acks


def test_sigkill_during_appends_loses_no_acknowledged_entry(tmp_path: Path, database_cli_url: str) -> None:
    key = SignerKey.generate(ORIGIN)
    key_file, checkpoint = tmp_path / "log.key", tmp_path / "checkpoint"
    key_file.write_text(key.text())
    published: list[SignedCheckpoint] = []
    acknowledged: dict[int, tuple[int, int]] = {}  # batch → (first index, count)
    next_batch = 0
    for _round in range(3):
        for line in _run_and_kill(database_cli_url, checkpoint, key_file, next_batch, seconds=1.5):
            if not line.startswith("ACK ") or not line.endswith("\n"):
                continue  # a line cut by the kill was never fully acknowledged
            fields = line.split()
            acknowledged[int(fields[1])] = (int(fields[2]), int(fields[3]))
            note = fields[4]
            published.append(open_checkpoint(base64.b64decode(note).decode(), key.verifier))
        next_batch = max(acknowledged) + 1000  # fresh batch numbers after each restart

        engine = create_engine(database_cli_url)
        sequencer = Sequencer(engine, key, checkpoint)  # refuses to open if behind or forked
        entries = [data for _, data in sequencer.store.iter_entries()]
        statements = [canonical.decode(LogEntry.decode(e).envelope.payload) for e in entries]

        for batch, (first, count) in acknowledged.items():
            assert count == batch_size(batch)
            got = [(s["batch"], s["i"]) for s in statements[first : first + count]]
            assert got == [(batch, i) for i in range(count)], f"acknowledged batch {batch} is damaged"

        # No half batch: the log is a sequence of whole batches.
        position = 0
        while position < len(statements):
            head = statements[position]
            assert head["i"] == 0, f"entry {position} starts in the middle of batch {head['batch']}"
            size = head["of"]
            assert [s["i"] for s in statements[position : position + size]] == list(range(size))
            position += size

        # The next checkpoint extends every checkpoint published before the crash.
        restart = {"type": "sample", "batch": next_batch - 1, "i": 0, "of": 1}
        sequencer.append([sign_statement(restart, [key])])
        latest = sequencer.published
        reader = LogReader(sequencer.store)
        for earlier in published:
            if earlier.size == 0:
                continue
            proof = reader.consistency_proof(earlier.size, latest.size)
            verify_consistency(earlier.size, latest.size, earlier.root, latest.root, proof)
        published.append(latest)
        engine.dispose()
