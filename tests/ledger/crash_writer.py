"""A writer for the crash test: appends batches forever and acknowledges each one on stdout.

Usage: ``python -m tests.ledger.crash_writer URL CHECKPOINT_FILE LOG_KEY_FILE FIRST_BATCH``.
Prints ``ACK <batch> <first index> <count> <base64 checkpoint note>`` once a batch is
durable and its checkpoint published, which is the moment a client would be answered.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from ledger.database import create_engine
from ledger.keys import SignerKey
from ledger.sequencer import Sequencer
from registry.statements import sign_statement

SIGNER = SignerKey.generate("crash-signer")


def batch_size(batch: int) -> int:
    return 1 + (batch * 37) % 61  # uneven sizes, so batches straddle tile boundaries


def main() -> None:
    url, checkpoint, key_file, first = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    sequencer = Sequencer(create_engine(url), SignerKey.parse(key_file.read_text()), checkpoint)
    batch = first
    while True:
        size = batch_size(batch)
        envelopes = [
            sign_statement({"type": "sample", "batch": batch, "i": i, "of": size}, [SIGNER]) for i in range(size)
        ]
        indices = sequencer.append(envelopes)
        note = base64.b64encode(sequencer.published.encode().encode()).decode()
        print(f"ACK {batch} {indices[0]} {size} {note}", flush=True)
        batch += 1


if __name__ == "__main__":
    main()
