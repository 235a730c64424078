"""Intake: a batch is checked the same way inline, on threads and in worker processes, and no
envelope is lost when a worker dies or the workers are busy with another batch."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from ledger import dsse
from ledger.database import create_engine
from registry import commands, intake
from registry.errors import InvalidEventError, RegistryError, UnauthorisedError
from registry.intake import Intake, Prepared
from registry.state import Applied
from tests.builders import World, world


@pytest.fixture
def sqlite_world(tmp_path: object) -> Iterator[World]:
    engine = create_engine(f"sqlite:///{tmp_path}/registry.db")
    w = world(engine)
    yield w
    w.registry.close()
    engine.dispose()


def _batch(w: World, count: int) -> list[dsse.Envelope]:
    """``count`` transfers by the supplier, every tenth with a broken signature and every
    tenth (offset by five) with a payload that is not JSON."""
    serial = w.issue(count)
    envelopes = []
    for n in range(count):
        unit = serial.first + n
        envelope = w.envelope(
            commands.transfer(w.origin, "supplier", "city-a", str(serial.sub(unit, unit))), "supplier"
        )
        if n % 10 == 0:
            broken = dataclasses.replace(envelope.signatures[0], sig=bytes(64))
            envelope = dataclasses.replace(envelope, signatures=(broken,))
        elif n % 10 == 5:
            envelope = dataclasses.replace(envelope, payload=b"not json")
        envelopes.append(envelope)
    return envelopes


def _summary(outcomes: list[Prepared | RegistryError]) -> list[tuple[str, str]]:
    return [("ok", o.event.id) if isinstance(o, Prepared) else (type(o).__name__, str(o)) for o in outcomes]


def test_a_batch_is_checked_alike_inline_on_threads_and_in_processes(sqlite_world: World) -> None:
    envelopes = _batch(sqlite_world, intake.PROCESS_BATCH)
    checker = Intake(sqlite_world.engine, workers=2)
    try:
        in_processes = checker.prepare(envelopes)  # PROCESS_BATCH envelopes: worker processes
        on_threads = checker.prepare(envelopes[: intake.PROCESS_BATCH - 1])
        inline = [o for n in range(0, len(envelopes), 50) for o in checker.prepare(envelopes[n : n + 50])]
    finally:
        checker.close()
    assert _summary(in_processes) == _summary(inline)
    assert _summary(on_threads) == _summary(inline[:-1])
    assert isinstance(inline[0], UnauthorisedError) and "does not verify" in str(inline[0])
    assert isinstance(inline[5], InvalidEventError)
    assert sum(isinstance(o, Prepared) for o in inline) == sum(
        n % 10 not in (0, 5) for n in range(intake.PROCESS_BATCH)
    )
    assert all(o.verified for o in in_processes if isinstance(o, Prepared))


def test_a_worker_that_dies_loses_no_envelope(sqlite_world: World) -> None:
    envelopes = _batch(sqlite_world, intake.PROCESS_BATCH)
    checker = Intake(sqlite_world.engine, workers=2)
    try:
        expected = _summary(checker.prepare(envelopes))
        workers = checker._processes._workers
        assert len(workers) == 2
        workers[0][0].kill()
        workers[0][0].join()
        assert _summary(checker.prepare(envelopes)) == expected  # its task checked by the collector
        assert checker._processes._workers == []  # and the workers stopped, to start afresh
        assert _summary(checker.prepare(envelopes)) == expected
        assert all(process.is_alive() for process, _ in checker._processes._workers)
    finally:
        checker.close()


def test_a_batch_that_finds_the_workers_busy_is_checked_on_threads(sqlite_world: World) -> None:
    envelopes = _batch(sqlite_world, intake.PROCESS_BATCH)
    checker = Intake(sqlite_world.engine, workers=2)
    try:
        first = checker.start(envelopes)  # holds the workers until collected
        second = checker.start(envelopes)
        assert _summary(second.result()) == _summary(first.result())
        assert checker._processes._reserved.acquire(blocking=False)  # collected: free again
        checker._processes._reserved.release()
    finally:
        checker.close()


def test_a_stream_closed_early_frees_the_workers(sqlite_world: World) -> None:
    serial = sqlite_world.issue(2 * intake.PROCESS_BATCH)
    moves = [
        sqlite_world.envelope(
            commands.transfer(sqlite_world.origin, "supplier", "city-a", str(serial.sub(n, n))), "supplier"
        )
        for n in range(serial.first, serial.first + 2 * intake.PROCESS_BATCH)
    ]
    batches = [moves[: intake.PROCESS_BATCH], moves[intake.PROCESS_BATCH :]]
    stream = sqlite_world.registry.submit_stream(batches)
    first = next(stream)  # the second batch is being checked meanwhile
    assert all(isinstance(o, Applied) for o in first)
    stream.close()
    processes = sqlite_world.registry._intake._processes
    assert processes._reserved.acquire(blocking=False)
    processes._reserved.release()
    assert all(isinstance(o, Applied) for o in sqlite_world.registry.submit_many(batches[1]))


def test_checks_of_a_stream_run_while_the_previous_batch_commits(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(3 * intake.PROCESS_BATCH)
    moves = [
        w.envelope(commands.transfer(w.origin, "supplier", "city-a", str(serial.sub(n, n))), "supplier")
        for n in range(serial.first, serial.first + 3 * intake.PROCESS_BATCH)
    ]
    batches = [moves[i : i + intake.PROCESS_BATCH] for i in range(0, len(moves), intake.PROCESS_BATCH)]
    start = w.log_size()
    outcomes = [o for result in w.registry.submit_stream(batches) for o in result]
    assert [o.index if isinstance(o, Applied) else o for o in outcomes] == list(range(start, start + len(moves)))
    w.registry.close()


def test_a_check_that_fails_in_the_collector_leaves_no_answer_behind(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    envelopes = _batch(sqlite_world, intake.PROCESS_BATCH)
    checker = Intake(sqlite_world.engine, workers=2)
    try:
        expected = _summary(checker.prepare(envelopes))
        workers = [process for process, _ in checker._processes._workers]

        def failing(*_args: object) -> list[intake.Checked]:
            raise RuntimeError("a check failed unexpectedly")

        # The workers are held still, so the collector takes every chunk itself, and fails.
        for process in workers:
            os.kill(process.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        monkeypatch.setattr(intake, "check_all", failing)
        checking = checker.start(envelopes)

        def resume() -> None:
            for process in workers:
                os.kill(process.pid, signal.SIGCONT)  # type: ignore[arg-type]

        threading.Timer(0.5, resume).start()
        with pytest.raises(RuntimeError, match="failed unexpectedly"):
            checking.result()
        monkeypatch.undo()
        # The workers' answers to that batch were read: the next batch gets its own.
        assert _summary(checker.prepare(envelopes)) == expected
        assert [process for process, _ in checker._processes._workers] == workers
    finally:
        checker.close()
