"""The write path's own guarantees: group commit, refusals that leave nothing, caches that never lie."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import dsse
from ledger.database import create_engine
from ledger.entry import LogEntry
from ledger.keys import SignerKey
from ledger.store import log_checkpoints
from registry import commands, findings, replay, schema
from registry.errors import NotHolderError, RegistryError, UnauthorisedError
from registry.intake import Prepared
from registry.service import Registry
from registry.state import Applied
from tests.builders import OPERATOR, World, world


def test_a_refused_event_in_a_batch_leaves_the_others_applied(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    first, second = serial.sub(serial.first, serial.first + 9), serial.sub(serial.first + 10, serial.first + 19)
    outcomes = w.registry.submit_many(
        [
            w.envelope(commands.transfer(w.origin, "supplier", "city-a", str(first)), "supplier"),
            w.envelope(commands.transfer(w.origin, "city-b", "buyer", str(second)), "city-b"),  # not city-b's
            w.envelope(commands.transfer(w.origin, "supplier", "city-b", str(second)), "supplier"),
        ]
    )
    assert isinstance(outcomes[0], Applied)
    assert isinstance(outcomes[1], NotHolderError)
    assert isinstance(outcomes[2], Applied)
    assert outcomes[2].index == outcomes[0].index + 1  # the refused event took no index
    with engine.connect() as conn:
        assert replay.snapshot(conn)["reg_blocks"][:2] == [
            (first.first, first.last, serial.batch, "city-a", "held", outcomes[0].index),
            (second.first, second.last, serial.batch, "city-b", "held", outcomes[2].index),
        ]


def test_a_key_revoked_earlier_in_the_same_batch_no_longer_signs(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(10)
    revoke = commands.revoke_key(w.origin, OPERATOR, "supplier", w.keys["supplier"].verifier.dsse_key_id, "lost")
    move = commands.transfer(w.origin, "supplier", "city-a", str(serial))
    onward = commands.transfer(w.origin, "city-a", "city-b", str(serial))
    back = commands.transfer(w.origin, "supplier", "city-b", str(serial))
    outcomes = w.registry.submit_many(
        [
            w.envelope(move, "supplier"),  # the supplier's key is read, and cached
            w.envelope(revoke, OPERATOR),
            w.envelope(onward, "city-a"),
            w.envelope(back, "supplier"),  # by the revoked key, in the same batch
        ]
    )
    assert [type(o).__name__ for o in outcomes] == ["Applied", "Applied", "Applied", "UnauthorisedError"]
    assert "revoked" in str(outcomes[3])


def test_replay_voids_an_entry_signed_by_a_key_revoked_after_it_had_signed(engine: Engine) -> None:
    # The key signs once (and so is read, and cached), is revoked, then signs again: the last
    # entry (forged, or written by a faulty writer) must change nothing and be named as void.
    w = world(engine)
    entries = [(i, data) for i, data in w.sequencer.store.iter_entries()]
    operator = w.keys[OPERATOR]
    second_operator_key = SignerKey.generate("operator-2")
    logged_at = "2026-11-23T12:00:00.000000Z"
    extra = [
        commands.bind_key(w.origin, OPERATOR, OPERATOR, commands.public_key(second_operator_key)),
        commands.open_account(
            w.origin, operator=OPERATOR, account="x-1", role="buyer", name="X", keys=["A" * 42 + "E="]
        ),
        commands.revoke_key(w.origin, OPERATOR, OPERATOR, second_operator_key.verifier.dsse_key_id, "lost"),
        commands.open_account(
            w.origin, operator=OPERATOR, account="x-2", role="operator", name="Y", keys=["A" * 42 + "I="]
        ),
    ]
    signers = [[operator], [second_operator_key], [operator], [second_operator_key]]
    for command, keys in zip(extra, signers, strict=True):
        entries.append((len(entries), LogEntry(commands.sign(command, keys), logged_at).encode()))
    empty = create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    replay.rebuild(entries, empty, w.origin)
    last = len(entries) - 1
    with empty.connect() as conn:
        (found,) = findings.read(conn.execute(sa.select(schema.findings)), [])
        opened = conn.execute(sa.select(schema.accounts.c.id).where(schema.accounts.c.id.in_(["x-1", "x-2"])))
        assert [row.id for row in opened] == ["x-1"]
    empty.dispose()
    assert (found.idx, found.kind, found.evidence) == (last, findings.Kind.VOID_ENTRY, (last,))
    assert found.message.startswith(f"entry {last} (account ")
    assert f"revoked at log index {last - 1}" in found.message


def test_a_failed_commit_leaves_no_stale_cache(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world(engine)
    serial = w.issue(10)
    envelope = w.envelope(commands.transfer(w.origin, "supplier", "city-a", str(serial)), "supplier")
    real_write = w.sequencer._write

    def failing_write(*args: object) -> object:
        raise RuntimeError("disk full")

    monkeypatch.setattr(w.sequencer, "_write", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        w.registry.submit(envelope)
    monkeypatch.setattr(w.sequencer, "_write", real_write)
    # Had the cache kept the rolled-back move, the supplier would no longer hold the units.
    applied = w.registry.submit(envelope)
    assert not applied.duplicate
    with pytest.raises(UnauthorisedError):
        w.registry.submit(w.envelope(commands.transfer(w.origin, "city-a", "city-b", str(serial)), "city-b"))


# --- concurrent single submissions share group commits ------------------------------------------

Outcome = Applied | RegistryError | BaseException


@contextmanager
def commits_counted_and_first_held(registry: Registry) -> Iterator[tuple[list[int], threading.Event]]:
    """Count the registry's transactions (events in each); hold the first until the event is set."""
    real_commit = registry._commit
    sizes: list[int] = []
    release = threading.Event()

    def commit(prepared: list[Prepared | RegistryError]) -> list[Applied | RegistryError]:
        sizes.append(len(prepared))
        if len(sizes) == 1:
            assert release.wait(10), "the first commit was never released"
        return real_commit(prepared)

    registry._commit = commit  # type: ignore[method-assign]
    try:
        yield sizes, release
    finally:
        del registry._commit  # the instance attribute hid the method


def submit_concurrently(w: World, envelopes: list[dsse.Envelope]) -> tuple[list[Outcome], list[int]]:
    """Submit each envelope on its own thread while the first caller's commit is held, so the rest queue.

    Returns each caller's outcome (or what it raised), in order, and the events in each transaction.
    """
    outcomes: list[Outcome | None] = [None] * len(envelopes)

    def client(n: int) -> None:
        try:
            outcomes[n] = w.registry.submit(envelopes[n])
        except BaseException as exc:  # the outcome under test, whatever it is
            outcomes[n] = exc

    with commits_counted_and_first_held(w.registry) as (sizes, release):
        threads = [threading.Thread(target=client, args=(n,)) for n in range(len(envelopes))]
        threads[0].start()
        wait_for(lambda: len(sizes) == 1)  # the first caller leads, alone, and is held
        for t in threads[1:]:
            t.start()
        wait_for(lambda: len(w.registry._queue) == len(envelopes) - 1)  # the others queue behind it
        release.set()
        for t in threads:
            t.join(30)
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None], sizes


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def checkpoints(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(log_checkpoints)).scalar_one())


def test_concurrent_submissions_share_a_commit_and_each_gets_its_own_outcome(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = [serial.sub(serial.first + n, serial.first + n) for n in range(20)]
    envelopes = [
        w.envelope(commands.transfer(w.origin, "supplier", ("city-a", "city-b", "buyer")[n % 3], str(unit)), "supplier")
        for n, unit in enumerate(units)
    ]
    envelopes[7] = w.envelope(commands.transfer(w.origin, "city-b", "buyer", str(units[7])), "city-b")  # not city-b's
    before, signed_before = w.log_size(), checkpoints(engine)
    outcomes, sizes = submit_concurrently(w, envelopes)
    assert sizes == [1, 19]  # two transactions for twenty events
    assert checkpoints(engine) - signed_before == 2  # and two signed checkpoints
    assert isinstance(outcomes[7], NotHolderError)
    assert outcomes[7].holder == "supplier"
    applied = [o for n, o in enumerate(outcomes) if n != 7]
    assert all(isinstance(o, Applied) and not o.duplicate for o in applied), outcomes
    indices = sorted(o.index for o in applied if isinstance(o, Applied))
    assert indices == list(range(before, before + 19))  # the refused event took no index
    assert w.log_size() == before + 19
    with engine.connect() as conn:
        held = {(row[0], row[3]) for row in replay.snapshot(conn)["reg_blocks"]}
    for n, unit in enumerate(units):
        holder = "supplier" if n == 7 else ("city-a", "city-b", "buyer")[n % 3]
        assert (unit.first, holder) in held


def test_the_same_event_twice_in_a_group_is_applied_once(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(10)
    envelope = w.envelope(commands.transfer(w.origin, "supplier", "city-a", str(serial)), "supplier")
    lead = w.envelope(commands.transfer(w.origin, "city-a", "city-b", str(serial)), "city-a")  # refused: not yet held
    before = w.log_size()
    outcomes, sizes = submit_concurrently(w, [lead, envelope, envelope])
    assert sizes == [1, 2]
    assert isinstance(outcomes[0], NotHolderError)
    first, second = outcomes[1], outcomes[2]
    assert isinstance(first, Applied) and isinstance(second, Applied)
    assert first.index == second.index == before
    assert sorted([first.duplicate, second.duplicate]) == [False, True]  # whichever queued second
    assert w.log_size() == before + 1


def test_a_failed_group_commit_reaches_every_caller_of_the_group(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world(engine)
    serial = w.issue(10)
    envelopes = [
        w.envelope(
            commands.transfer(w.origin, "supplier", "city-a", str(serial.sub(serial.first + n, serial.first + n))),
            "supplier",
        )
        for n in range(4)
    ]
    real_write, writes = w.sequencer._write, []

    def write_then_fail_the_second(*args: object) -> object:
        writes.append(args)
        if len(writes) == 2:
            raise RuntimeError("disk full")
        return real_write(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(w.sequencer, "_write", write_then_fail_the_second)
    before = w.log_size()
    outcomes, sizes = submit_concurrently(w, envelopes)
    assert sizes == [1, 3]
    assert isinstance(outcomes[0], Applied)
    assert all(isinstance(o, RuntimeError) and str(o) == "disk full" for o in outcomes[1:]), outcomes
    assert w.log_size() == before + 1
    # Nothing of the failed group stuck, in the database or in the cache: the events apply now.
    assert all(isinstance(w.registry.submit(e), Applied) for e in envelopes[1:])
