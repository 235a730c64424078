"""A writer for the concurrency test: ``python -m tests.ledger.concurrent_writer URL CHECKPOINT KEY NAME``.

Opens its own sequencer on the shared database and appends 25 batches; exits 0 if all succeed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ledger.database import create_engine
from ledger.keys import SignerKey
from ledger.sequencer import Sequencer
from tests.builders import statement


def main() -> None:
    url, checkpoint, key_file, name = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    sequencer = Sequencer(create_engine(url), SignerKey.parse(key_file.read_text()), checkpoint)
    for batch in range(25):
        sequencer.append([statement(hash((name, batch, i)) % 10**9) for i in range(1 + batch % 7)])


if __name__ == "__main__":
    main()
