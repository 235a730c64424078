"""The C2SP tlog-witness: every refusal the spec names, the cosignature, and the atomic record."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.database import create_engine
from ledger.errors import LedgerError
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.note import open_note
from ledger.reader import LogReader
from ledger.sequencer import Sequencer
from ledger.witness import (
    AddCheckpoint,
    InconsistentError,
    LogSignatureError,
    MalformedRequestError,
    SizeConflictError,
    UnknownLogError,
    Witness,
)
from tests.builders import ORIGIN, log_key, sequencer, statement

WITNESS_KEY = SignerKey.generate("witness.test/w1", ALG_COSIGNATURE_V1)
NOW = 1_790_000_000


@pytest.fixture
def scratch(tmp_path: Path) -> Callable[[], Engine]:
    """Fresh SQLite databases for the other side of a test (a witness, or a forked log)."""
    made = itertools.count()
    return lambda: create_engine(f"sqlite:///{tmp_path / f'scratch-{next(made)}.db'}")


def _witness(engine: Engine) -> Witness:
    return Witness(engine, WITNESS_KEY, [log_key().verifier], clock=lambda: NOW)


def _request(seq: Sequencer, old: int) -> bytes:
    published = seq.published
    proof = LogReader(seq.store).consistency_proof(old, published.size) if 0 < old < published.size else []
    return AddCheckpoint(old, tuple(proof), published.encode()).encode()


def test_cosigns_a_growing_log_and_holds_its_latest_size(engine: Engine, scratch: Callable[[], Engine]) -> None:
    seq = sequencer(engine)
    witness = _witness(scratch())
    seq.append([statement(n) for n in range(5)])
    lines = witness.add_checkpoint(_request(seq, 0))
    # The answer is a tlog-cosignature/v1 line that verifies over the checkpoint, timestamped now.
    cosigned = open_checkpoint(
        seq.published.encode() + lines, log_key().verifier, witnesses=[WITNESS_KEY.verifier], quorum=1
    )
    assert cosigned.cosigners == (WITNESS_KEY.verifier,)
    assert int.from_bytes(cosigned.note.signatures[-1].signature[:8], "big") == NOW
    seq.append([statement(n) for n in range(5, 300)])
    witness.add_checkpoint(_request(seq, 5))
    held = witness.held(ORIGIN)
    assert held is not None
    assert (held.size, held.root) == (300, seq.published.root)
    # Resubmitting the same checkpoint from the size it holds is co-signed again (equal roots).
    again = witness.add_checkpoint(_request(seq, 300))
    assert open_note(seq.published.encode() + again, [WITNESS_KEY.verifier]).verified_by == (WITNESS_KEY.verifier,)


def test_a_stale_old_size_is_answered_with_the_size_held(engine: Engine, scratch: Callable[[], Engine]) -> None:
    seq = sequencer(engine)
    witness = _witness(scratch())
    seq.append([statement(n) for n in range(7)])
    witness.add_checkpoint(_request(seq, 0))
    seq.append([statement(7)])
    with pytest.raises(SizeConflictError) as refused:
        witness.add_checkpoint(_request(seq, 0))
    assert refused.value.size == 7
    assert refused.value.status == 409


def test_a_fork_is_refused_with_422_and_kept_as_evidence(engine: Engine, scratch: Callable[[], Engine]) -> None:
    honest = sequencer(engine)
    honest.append([statement(n) for n in range(10)])
    witness = _witness(scratch())
    witness.add_checkpoint(_request(honest, 0))
    # The same log key signs a second history that shares only the first 4 entries.
    forked = sequencer(scratch())
    forked.append([statement(n) for n in range(4)] + [statement(100 + n) for n in range(8)])
    request = AddCheckpoint(10, tuple(LogReader(forked.store).consistency_proof(10, 12)), forked.published.encode())
    with pytest.raises(InconsistentError, match="not consistent with size 10"):
        witness.add_checkpoint(request.encode())
    held = witness.held(ORIGIN)
    assert held is not None and held.size == 10  # nothing moved
    ((held_note, kept, reason),) = witness.evidence(ORIGIN)
    assert held_note == honest.published.encode()
    assert forked.published.encode() in kept and "size 10" in reason


def test_the_same_size_with_another_root_is_a_conflict_and_evidence(scratch: Callable[[], Engine]) -> None:
    witness = _witness(scratch())
    key = log_key()
    first = sign_checkpoint(Checkpoint(ORIGIN, 3, b"\x01" * 32), key)
    other = sign_checkpoint(Checkpoint(ORIGIN, 3, b"\x02" * 32), key)
    witness.add_checkpoint(AddCheckpoint(0, (), first.encode()).encode())
    with pytest.raises(SizeConflictError) as refused:
        witness.add_checkpoint(AddCheckpoint(3, (), other.encode()).encode())
    assert refused.value.size == 3
    assert len(witness.evidence(ORIGIN)) == 1


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"old 01\n\nx\n", MalformedRequestError, "no leading zeroes"),
        (b"new 1\n\nx\n", MalformedRequestError, "line 1"),
        (b"old 0\nnot-base64!\n\nx\n", MalformedRequestError, "line 2 is not a base64 hash"),
        (b"old 0\nAAAA\n\nx\n", MalformedRequestError, "line 2 holds 3 bytes"),
        (b"old 0\n" + b"".join(b"A" * 43 + b"=\n" for _ in range(64)) + b"\nx\n", MalformedRequestError, "at most 63"),
        (b"old 0\n", MalformedRequestError, "no blank line"),
        (b"\xff\n\n", MalformedRequestError, "not UTF-8"),
    ],
)
def test_malformed_requests_are_400_naming_the_line(
    body: bytes, error: type[Exception], message: str, scratch: Callable[[], Engine]
) -> None:
    with pytest.raises(error, match=message) as refused:
        _witness(scratch()).add_checkpoint(body)
    assert getattr(refused.value, "status", None) == 400


def test_unknown_logs_bad_signatures_and_sizes_are_refused(scratch: Callable[[], Engine]) -> None:
    witness = _witness(scratch())
    stranger = SignerKey.generate("other.example/log")
    unknown = sign_checkpoint(Checkpoint("other.example/log", 1, b"\x01" * 32), stranger)
    with pytest.raises(UnknownLogError) as refused:
        witness.add_checkpoint(AddCheckpoint(0, (), unknown.encode()).encode())
    assert refused.value.status == 404
    # Signed for our origin, but by a key the witness does not trust for it: 403.
    impostor = SignerKey.generate(ORIGIN)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 1, b"\x01" * 32), impostor)
    with pytest.raises(LogSignatureError) as refused_sig:
        witness.add_checkpoint(AddCheckpoint(0, (), forged.encode()).encode())
    assert refused_sig.value.status == 403
    good = sign_checkpoint(Checkpoint(ORIGIN, 2, b"\x01" * 32), log_key())
    with pytest.raises(MalformedRequestError, match="old size 5 is above"):
        witness.add_checkpoint(AddCheckpoint(5, (), good.encode()).encode())
    with pytest.raises(MalformedRequestError, match="must be empty"):
        witness.add_checkpoint(AddCheckpoint(0, (b"\x00" * 32,), good.encode()).encode())
    assert witness.held(ORIGIN) is None


def test_racing_requests_never_roll_the_record_back(engine: Engine, scratch: Callable[[], Engine]) -> None:
    """C2SP tlog-witness: checking the old size and persisting must be atomic."""
    seq = sequencer(scratch())
    seq.append([statement(0)])
    witness = _witness(engine)
    witness.add_checkpoint(_request(seq, 0))
    requests = []
    for n in range(1, 9):
        seq.append([statement(n)])
        requests.append(_request(seq, 1))  # every one of them claims to extend size 1
    outcomes: list[str] = []
    barrier = threading.Barrier(len(requests))

    def send(body: bytes) -> None:
        barrier.wait()
        try:
            witness.add_checkpoint(body)
            outcomes.append("cosigned")
        except SizeConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=send, args=(body,)) for body in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("cosigned") == 1
    assert outcomes.count("conflict") == len(requests) - 1
    held = witness.held(ORIGIN)
    assert held is not None and held.size > 1


def test_a_cosigning_key_is_never_trusted_as_a_log_key(scratch: Callable[[], Engine]) -> None:
    cosigner = SignerKey.generate(ORIGIN, ALG_COSIGNATURE_V1)
    with pytest.raises(LedgerError, match="not an Ed25519 checkpoint key"):
        Witness(scratch(), WITNESS_KEY, [cosigner.verifier])


def test_a_proof_between_equal_sizes_must_be_empty(engine: Engine, scratch: Callable[[], Engine]) -> None:
    seq = sequencer(engine)
    seq.append([statement(n) for n in range(3)])
    witness = _witness(scratch())
    witness.add_checkpoint(_request(seq, 0))
    with pytest.raises(MalformedRequestError, match="between equal sizes must be empty"):
        witness.add_checkpoint(AddCheckpoint(3, (b"\x00" * 32,), seq.published.encode()).encode())
