"""Many clients race to move or retire the same block: exactly one wins, the others get a conflict.

Clients race as threads sharing one registry, as threads each with its own sequencer and
registry on the same database, and as separate processes; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from ledger import dsse
from ledger.database import create_engine
from registry import commands
from registry.errors import NotHolderError, RegistryError, UnitsRetiredError
from registry.service import Registry
from registry.state import Applied
from tests.builders import ORIGIN, World, log_key, sequencer, world
from tests.conftest import ROOT

CLIENTS = 8


def _racing_envelopes(w: World) -> tuple[list[dsse.Envelope], str]:
    """Eight different events by the same holder, each wanting the same block: transfers and retirements."""
    serial = w.issue(500)
    block = serial.sub(serial.first + 100, serial.first + 199)
    envelopes = []
    for n in range(CLIENTS):
        if n % 2:
            command = commands.retire(
                w.origin, "supplier", str(block), "compensation", "FI-19", beneficiary_account="city-a", year=2029
            )
        else:
            command = commands.transfer(w.origin, "supplier", ("city-a", "city-b", "buyer")[n % 3], str(block))
        envelopes.append(w.envelope(command, "supplier"))
    return envelopes, str(block)


def _check_one_winner(outcomes: list[Applied | RegistryError], w: World, before: int) -> None:
    winners = [o for o in outcomes if isinstance(o, Applied)]
    losers = [o for o in outcomes if not isinstance(o, Applied)]
    assert len(winners) == 1, outcomes
    assert len(losers) == CLIENTS - 1
    for loser in losers:
        # The error names the block's state and the log index of the event that won.
        assert isinstance(loser, NotHolderError | UnitsRetiredError), loser
        assert loser.since == winners[0].index
    assert w.log_size() == before + 1


def test_threads_sharing_a_registry(engine: Engine) -> None:
    w = world(engine)
    envelopes, _ = _racing_envelopes(w)
    before = w.log_size()
    barrier = threading.Barrier(CLIENTS)
    outcomes: dict[int, Applied | RegistryError] = {}

    def client(n: int) -> None:
        barrier.wait()
        try:
            outcomes[n] = w.registry.submit(envelopes[n])
        except RegistryError as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check_one_winner(list(outcomes.values()), w, before)


def test_threads_with_their_own_registries(engine: Engine, database_cli_url: str) -> None:
    w = world(engine)
    envelopes, _ = _racing_envelopes(w)
    before = w.log_size()
    engines = [create_engine(database_cli_url) for _ in range(CLIENTS)]
    registries = [Registry(e, sequencer(e)) for e in engines]
    barrier = threading.Barrier(CLIENTS)
    outcomes: dict[int, Applied | RegistryError] = {}

    def client(n: int) -> None:
        barrier.wait()
        try:
            outcomes[n] = registries[n].submit(envelopes[n])
        except RegistryError as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for registry, e in zip(registries, engines, strict=True):
        registry.close()
        e.dispose()
    _check_one_winner(list(outcomes.values()), w, before)


def test_processes(engine: Engine, database_cli_url: str, tmp_path: Path) -> None:
    w = world(engine)
    envelopes, block = _racing_envelopes(w)
    before = w.log_size()
    key_file, go = tmp_path / "log.key", tmp_path / "go"
    key_file.write_text(log_key(ORIGIN).text())
    clients = []
    for n, envelope in enumerate(envelopes):
        envelope_file = tmp_path / f"envelope-{n}.json"
        envelope_file.write_text(json.dumps(envelope.to_json()))
        clients.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.registry.racing_client",
                    database_cli_url,
                    str(key_file),
                    str(envelope_file),
                    str(go),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for client in clients:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for client in clients:
        output, errors = client.communicate(timeout=120)
        assert client.returncode == 0, errors
        results.append(json.loads(output))
    winners = [r for r in results if "index" in r]
    losers = [r for r in results if "code" in r]
    assert len(winners) == 1, results
    assert len(losers) == CLIENTS - 1, results
    for loser in losers:
        assert loser["code"] in (NotHolderError.code, UnitsRetiredError.code)
        assert loser["since"] == winners[0]["index"]
        assert block in loser["message"]
    assert w.log_size() == before + 1
