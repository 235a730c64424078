"""A client for the concurrency test: ``python -m tests.registry.racing_client URL LOG_KEY ENVELOPE GO``.

Opens its own sequencer and registry on the shared database, prints ``ready``, waits for the
file GO to appear, submits the envelope and prints its outcome as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ledger.database import create_engine
from ledger.dsse import Envelope
from ledger.keys import SignerKey
from ledger.sequencer import Sequencer
from registry.errors import RegistryError
from registry.service import Registry


def main() -> None:
    url, key_file, envelope_file, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    engine = create_engine(url)
    sequencer = Sequencer(engine, SignerKey.parse(key_file.read_text()))
    registry = Registry(engine, sequencer)
    envelope = Envelope.from_json(json.loads(envelope_file.read_text()))
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    try:
        applied = registry.submit(envelope)
        print(json.dumps({"index": applied.index}), flush=True)
    except RegistryError as exc:
        print(json.dumps({"code": exc.code, "since": getattr(exc, "since", None), "message": str(exc)}), flush=True)
    registry.close()
    engine.dispose()


if __name__ == "__main__":
    main()
