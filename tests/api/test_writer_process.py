"""The writer process (registry.writer): one writer for every HTTP worker of ``registry serve``.

The write and read tests of test_events_api run through it too; these check what is its own:
that the worker's node writes nothing itself, that concurrent submissions share group commits,
that a refusal arrives as the very error, that a writer gone is a 503 that writes nothing, and
that the real process starts, reports why it cannot, and never outlives its parent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.dsse import Envelope
from ledger.entry import LogEntry
from ledger.keys import SignerKey
from ledger.receipt import Receipt, verify_receipt
from registry import commands, writer
from registry.errors import AlreadyExistsError, WriterUnavailableError
from registry.node import Node, Receipted
from tests.builders import populated_node
from tests.servers import writer_serving


def opening(node: Node, operator: SignerKey, account: str) -> Envelope:
    """An operator-signed event opening buyer ``account`` (with a fresh key)."""
    command = commands.open_account(
        node.origin,
        operator="operator",
        account=account,
        role="buyer",
        name=account.title(),
        keys=[commands.public_key(SignerKey.generate(account))],
    )
    return commands.sign(command, [operator])


@pytest.fixture
def registry_root(tmp_path: Path, database_cli_url: str) -> tuple[Path, Node, SignerKey]:
    root = tmp_path / "registry"
    node = populated_node(root, 1, database_url=database_cli_url)
    return root, node, SignerKey.parse((root / "keys" / "operator.key").read_text())


def test_the_writer_writes_and_the_worker_only_reads(
    registry_root: tuple[Path, Node, SignerKey], database_cli_url: str
) -> None:
    root, node, operator = registry_root
    with writer_serving(root, database_cli_url) as path:
        client = TestClient(create_app(node, writer=writer.WriterClient(path)))
        envelope = opening(node, operator, "buyer-a")
        response = client.post("/v1/events", content=json.dumps(envelope.to_json()))
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["index"], body["type"], body["duplicate"]) == (1, "account", False)
        assert verify_receipt(body["receipt"], node.log_vkey).size == 2
        assert node.sequencer.published.size == 1  # the worker's own sequencer signed nothing
        assert node.store.head()[0] == 2
        assert client.get("/v1/accounts/buyer-a").json()["id"] == "buyer-a"
        assert client.get("/log/checkpoint").text == body["checkpoint"]

        again = client.post("/v1/events", content=json.dumps(envelope.to_json()))
        assert (again.status_code, again.json()["index"], again.json()["duplicate"]) == (200, 1, True)
    node.close()


def test_concurrent_submissions_share_group_commits_and_each_gets_its_receipt(
    registry_root: tuple[Path, Node, SignerKey], database_cli_url: str
) -> None:
    root, node, operator = registry_root
    envelopes = [opening(node, operator, f"buyer-{n:02d}") for n in range(60)]

    async def submit_all(path: str) -> list[Receipted]:
        client = writer.WriterClient(path)
        try:
            return list(await asyncio.gather(*(client.submit(e) for e in envelopes)))
        finally:
            await client.close()

    with writer_serving(root, database_cli_url) as path:
        receipted = asyncio.run(submit_all(path))
    assert sorted(r.index for r in receipted) == list(range(1, 61))
    for envelope, answer in zip(envelopes, receipted, strict=True):
        receipt = Receipt.parse(answer.receipt)
        assert receipt.index == answer.index
        assert verify_receipt(answer.receipt, node.log_vkey).size > answer.index
        assert receipt.entry is not None and LogEntry.decode(receipt.entry).envelope == envelope
    checkpoints = {r.checkpoint for r in receipted}
    assert len(checkpoints) < len(receipted)  # events that queued together shared a checkpoint
    node.close()


def test_a_refusal_arrives_as_the_error_that_refused_it(
    registry_root: tuple[Path, Node, SignerKey], database_cli_url: str
) -> None:
    root, node, operator = registry_root

    async def submit(path: str, envelope: Envelope) -> Receipted:
        client = writer.WriterClient(path)
        try:
            return await client.submit(envelope)
        finally:
            await client.close()

    with writer_serving(root, database_cli_url) as path:
        asyncio.run(submit(path, opening(node, operator, "buyer-a")))
        with pytest.raises(AlreadyExistsError) as refused:
            asyncio.run(submit(path, opening(node, operator, "buyer-a")))
    assert (refused.value.field, refused.value.kind, refused.value.name, refused.value.index) == (
        "account",
        "account",
        "buyer-a",
        1,
    )
    assert node.store.head()[0] == 2
    node.close()


def test_a_writer_gone_answers_503_and_writes_nothing(
    registry_root: tuple[Path, Node, SignerKey], database_cli_url: str
) -> None:
    root, node, operator = registry_root
    with writer_serving(root, database_cli_url) as path:
        client = TestClient(create_app(node, writer=writer.WriterClient(path)))
        before = client.post("/v1/events", content=json.dumps(opening(node, operator, "buyer-a").to_json()))
        assert before.status_code == 201, before.text
    # The writer has stopped and its socket is gone: the same worker's next write is refused.
    response = client.post("/v1/events", content=json.dumps(opening(node, operator, "buyer-b").to_json()))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/writer-unavailable"
    assert node.store.head()[0] == 2
    assert client.get("/v1/accounts/buyer-b").status_code == 404
    node.close()


def test_a_closed_registry_takes_no_event_and_says_it_is_unavailable(
    registry_root: tuple[Path, Node, SignerKey],
) -> None:
    _, node, operator = registry_root
    node.registry.close()
    with pytest.raises(WriterUnavailableError, match="closed"):
        node.registry.enqueue(opening(node, operator, "buyer-a"))
    assert node.store.head()[0] == 1
    node.close()


def test_the_writer_process_starts_serves_and_stops(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    node = populated_node(root, 1)
    operator = SignerKey.parse((root / "keys" / "operator.key").read_text())

    async def submit(path: str) -> Receipted:
        client = writer.WriterClient(path)
        try:
            return await client.submit(opening(node, operator, "buyer-a"))
        finally:
            await client.close()

    with writer.running(root) as path:
        assert asyncio.run(submit(path)).index == 1
    assert not os.path.exists(path)
    with pytest.raises(WriterUnavailableError, match="cannot reach the writer"):
        asyncio.run(submit(path))
    assert node.store.head()[0] == 2
    node.close()


def test_a_writer_that_cannot_open_the_registry_says_why(tmp_path: Path) -> None:
    with (
        pytest.raises(
            WriterUnavailableError, match=r"did not start \(exit status 1\): .* is not a registry data directory"
        ),
        writer.running(tmp_path),
    ):
        pass


def test_the_writer_process_does_not_outlive_its_parent(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    populated_node(root, 1).close()
    parent = (
        "import os, sys\nfrom pathlib import Path\nfrom registry import writer\n"
        "with writer.running(Path(sys.argv[1])) as path:\n    print(path, flush=True)\n    os._exit(0)\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", parent, str(root)], check=True, capture_output=True, text=True, timeout=60
    )
    path = started.stdout.strip()
    assert path.endswith("socket"), started.stderr
    deadline = time.monotonic() + 10
    while os.path.exists(path):  # the writer notices within a second, then removes its socket
        assert time.monotonic() < deadline, "the writer kept serving after its parent died"
        time.sleep(0.1)
    with socket.socket(socket.AF_UNIX) as probe:
        assert probe.connect_ex(path) != 0


def test_request_numbers_wrap_at_the_header_field(
    registry_root: tuple[Path, Node, SignerKey], database_cli_url: str
) -> None:
    root, node, operator = registry_root

    async def submit_all(path: str) -> list[int]:
        client = writer.WriterClient(path)
        client._numbers = itertools.count(2**32 - 2)  # the next three are 2^32-2, 2^32-1, then 0
        try:
            return [(await client.submit(opening(node, operator, f"buyer-{n}"))).index for n in range(3)]
        finally:
            await client.close()

    with writer_serving(root, database_cli_url) as path:
        assert asyncio.run(submit_all(path)) == [1, 2, 3]
    node.close()


def test_an_answer_that_cannot_be_read_fails_its_request_alone() -> None:
    async def scenario() -> tuple[object, object]:
        reader = asyncio.StreamReader()
        stream = mock.Mock(spec=asyncio.StreamWriter)
        connection = writer._Connection(reader, stream)
        loop = asyncio.get_running_loop()
        broken, fine = loop.create_future(), loop.create_future()
        connection.waiting.update({1: broken, 2: fine})
        garbage, good = b"not a pickle", pickle.dumps(AlreadyExistsError("account", "account", "a", 3))
        reader.feed_data(writer.HEADER.pack(1, len(garbage)) + garbage + writer.HEADER.pack(2, len(good)) + good)
        reader.feed_eof()
        await connection.answers
        return broken.result(), fine.result()

    broken, fine = asyncio.run(scenario())
    assert isinstance(broken, RuntimeError) and "could not be read" in str(broken)
    assert isinstance(fine, AlreadyExistsError) and fine.name == "a"


def test_a_writer_that_does_not_answer_is_unavailable_after_the_timeout(tmp_path: Path) -> None:
    async def scenario() -> None:
        async def read_and_never_answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
            await reader.read()

        path = str(tmp_path / "socket")
        server = await asyncio.start_unix_server(read_and_never_answer, path)
        client = writer.WriterClient(path, timeout=0.2)
        envelope = Envelope("application/vnd.carbon-registry.statement+json", b"{}", ())
        try:
            with pytest.raises(WriterUnavailableError, match=r"did not answer within 0\.2 s"):
                await client.submit(envelope)
        finally:
            await client.close()
            server.close()

    asyncio.run(scenario())
