"""The write path's own guarantees: group commit, refusals that leave nothing, caches that never lie."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.database import create_engine
from ledger.entry import LogEntry
from ledger.keys import SignerKey
from registry import commands, findings, replay, schema
from registry.errors import NotHolderError, UnauthorisedError
from registry.state import Applied
from tests.builders import OPERATOR, world


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
