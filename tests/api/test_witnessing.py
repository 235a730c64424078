"""The log pushes its checkpoints to witnesses over HTTP and keeps their cosignatures in the store."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.witness_app import create_witness_app
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.database import create_engine
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.note import Note
from ledger.reader import LogReader
from ledger.witness import AddCheckpoint, Witness
from ledger.witnessing import WitnessEndpoint, Witnessing
from tests.builders import ORIGIN, log_key, sequencer, statement

W1 = SignerKey.generate("w1.witness.test", ALG_COSIGNATURE_V1)
W2 = SignerKey.generate("w2.witness.test", ALG_COSIGNATURE_V1)


def _routing(apps: dict[str, TestClient]) -> httpx.Client:
    """An HTTP client that delivers each request to the in-process witness named by its host."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host not in apps:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        answer = apps[request.url.host].request(request.method, request.url.path, content=request.content)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.Client(transport=httpx.MockTransport(handle))


@pytest.fixture
def witnesses(tmp_path: Path) -> dict[str, Witness]:
    made = itertools.count()

    def engine() -> Engine:
        return create_engine(f"sqlite:///{tmp_path / f'witness-{next(made)}.db'}")

    return {key.name: Witness(engine(), key, [log_key().verifier]) for key in (W1, W2)}


def _pusher(engine: Engine, witnesses: dict[str, Witness]) -> tuple[Witnessing, Callable[[], object]]:
    seq = sequencer(engine)
    apps = {name: TestClient(create_witness_app(w)) for name, w in witnesses.items()}
    endpoints = [WitnessEndpoint(w.verifier, f"http://{name}") for name, w in witnesses.items()]
    pusher = Witnessing(LogReader(seq.store), log_key().verifier, endpoints, client=_routing(apps))
    counter = itertools.count()
    return pusher, lambda: seq.append([statement(next(counter)) for _ in range(37)])


def test_each_new_checkpoint_is_co_signed_by_every_witness_and_stored(
    engine: Engine, witnesses: dict[str, Witness]
) -> None:
    pusher, grow = _pusher(engine, witnesses)
    empty = pusher.push()  # the empty tree's checkpoint is witnessed too
    assert empty is not None and empty.size == 0 and len(empty.cosigners) == 2
    for expected_size in (37, 74, 111):
        grow()
        cosigned = pusher.push()
        assert cosigned is not None and cosigned.size == expected_size
        assert set(cosigned.cosigners) == {W1.verifier, W2.verifier}
        # The store now serves the co-signed note: a reader with a quorum of both accepts it.
        latest = pusher.reader.store.latest_checkpoint()
        assert latest is not None
        stored = open_checkpoint(latest[1], log_key().verifier, witnesses=[W1.verifier, W2.verifier], quorum=2)
        assert stored.size == expected_size
        for witness in witnesses.values():
            held = witness.held(stored.checkpoint.origin)
            assert held is not None and (held.size, held.root) == (expected_size, stored.root)
    assert pusher.failures == {}


def test_a_witness_that_lost_track_is_caught_up_from_the_size_it_answers(
    engine: Engine, witnesses: dict[str, Witness]
) -> None:
    pusher, grow = _pusher(engine, witnesses)
    grow()
    pusher.push()
    grow()
    pusher._held.clear()  # a restarted log remembers nothing: it sends old 0, hears 409 "37", retries
    cosigned = pusher.push()
    assert cosigned is not None and cosigned.size == 74 and len(cosigned.cosigners) == 2


def test_a_refusal_is_reported_and_never_blocks_the_log(engine: Engine, witnesses: dict[str, Witness]) -> None:
    pusher, grow = _pusher(engine, witnesses)
    grow()
    w2 = witnesses[W2.name]
    w2.logs.clear()  # w2 no longer knows this log: 404
    cosigned = pusher.push()
    assert cosigned is not None and cosigned.cosigners == (W1.verifier,)
    assert pusher.failures[W2.name].startswith("404")
    # An unreachable witness is reported too, and the next push tries again.
    pusher.witnesses = (pusher.witnesses[0], WitnessEndpoint(W2.verifier, "http://unreachable.invalid"))
    grow()
    cosigned = pusher.push()
    assert cosigned is not None and cosigned.size == 74 and cosigned.cosigners == (W1.verifier,)
    assert pusher.failures[W2.name] == "unreachable: no route to unreachable.invalid"


def test_two_pushers_never_store_two_lines_by_one_witness(engine: Engine, tmp_path: Path) -> None:
    """Two server processes push the same checkpoint; the witness answers each with a new timestamp."""
    ticks = itertools.count(1_790_000_000)
    witness = Witness(
        create_engine(f"sqlite:///{tmp_path / 'w.db'}"), W1, [log_key().verifier], clock=lambda: next(ticks)
    )
    seq = sequencer(engine)
    seq.append([statement(n) for n in range(5)])
    client = _routing({W1.name: TestClient(create_witness_app(witness))})
    pushers = [
        Witnessing(
            LogReader(seq.store), log_key().verifier, [WitnessEndpoint(W1.verifier, f"http://{W1.name}")], client=client
        )
        for _ in range(2)
    ]
    first = pushers[0]._answer(pushers[0].witnesses[0], seq.published)
    second = pushers[1]._answer(pushers[1].witnesses[0], seq.published)
    assert isinstance(first, Note) and isinstance(second, Note) and first != second  # two valid, different lines
    pushers[0]._record(5, list(first.signatures))
    pushers[1]._record(5, list(second.signatures))
    latest = seq.store.latest_checkpoint()
    assert latest is not None
    stored = open_checkpoint(latest[1], log_key().verifier, witnesses=[W1.verifier], quorum=1)
    assert [s.name for s in stored.note.signatures] == [log_key().name, W1.name]


def test_one_witness_answering_garbage_costs_the_others_nothing(engine: Engine, witnesses: dict[str, Witness]) -> None:
    seq = sequencer(engine)
    seq.append([statement(n) for n in range(3)])
    honest = TestClient(create_witness_app(witnesses[W1.name]))

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == W2.name:  # a 409 whose "size" int() would take but no tree has
            return httpx.Response(409, headers={"content-type": "text/x.tlog.size"}, content="²\n".encode())
        answer = honest.request(request.method, request.url.path, content=request.content)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    endpoints = [WitnessEndpoint(W1.verifier, f"http://{W1.name}"), WitnessEndpoint(W2.verifier, f"http://{W2.name}")]
    pusher = Witnessing(
        LogReader(seq.store), log_key().verifier, endpoints, client=httpx.Client(transport=httpx.MockTransport(handle))
    )
    cosigned = pusher.push()
    assert cosigned is not None and cosigned.cosigners == (W1.verifier,)
    assert pusher.failures == {W2.name: "409 conflict at size '²'"}


def test_the_witness_answers_the_statuses_c2sp_assigns(engine: Engine, witnesses: dict[str, Witness]) -> None:
    seq = sequencer(engine)
    seq.append([statement(n) for n in range(4)])
    client = TestClient(create_witness_app(witnesses[W1.name]))

    def post(old: int, note: str, proof: tuple[bytes, ...] = ()) -> httpx.Response:
        answer: httpx.Response = client.post("/add-checkpoint", content=AddCheckpoint(old, proof, note).encode())
        return answer

    first = post(0, seq.published.encode())
    assert first.status_code == 200 and first.text.startswith(f"— {W1.name} ")
    stale = post(0, seq.published.encode())
    assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, "4\n", "text/x.tlog.size")
    seq.append([statement(4)])
    assert post(4, seq.published.encode(), (b"\x00" * 32,)).status_code == 422  # a proof that does not verify
    assert post(9, seq.published.encode()).status_code == 400  # old size above the checkpoint's
    assert client.post("/add-checkpoint", content=b"old 0\n").status_code == 400
    stranger = sign_checkpoint(
        Checkpoint("other.example/log", 1, b"\x01" * 32), SignerKey.generate("other.example/log")
    )
    assert post(0, stranger.encode()).status_code == 404
    forged = sign_checkpoint(Checkpoint(ORIGIN, 9, b"\x01" * 32), SignerKey.generate(ORIGIN))
    assert post(4, forged.encode()).status_code == 403
    assert client.post("/add-checkpoint", content=b"x" * (64 * 1024 + 1)).status_code == 413
    assert client.get("/").text.splitlines() == [W1.verifier.text(), f"{ORIGIN} 4"]
    # The failed proof was kept once, however often it is resent.
    post(4, seq.published.encode(), (b"\x00" * 32,))
    assert len(witnesses[W1.name].evidence(ORIGIN)) == 1
