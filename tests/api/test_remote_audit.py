"""`registry audit --url`: a running registry audited from its public read API alone, incrementally.

Each registry is served in-process (``api.app.create_app``) through an httpx transport, so the
audit talks HTTP to the real routes; one test runs a real server on a free port.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from api import cli_audit
from api.app import create_app
from api.cli import app as cli
from ledger import b64
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.merkle import leaf_hash
from ledger.note import sign
from ledger.remote_audit import HttpLogSource, RemoteAuditError, audit_remote, pin_path
from ledger.sequencer import TreeState
from ledger.store import log_checkpoints, log_entries, log_head, log_tiles
from ledger.trust_policy import Policy
from registry import commands
from registry.datadir import DataDir
from registry.node import Node, open_node
from registry.state import Applied
from tests.builders import OPERATOR, populated_node

runner = CliRunner()
URL = "http://registry.test"
Tamper = Callable[[str, bytes], bytes]


class AppTransport(httpx.BaseTransport):
    """Sends each request to an in-process application; ``tamper(path, body)`` may rewrite answers."""

    def __init__(self, node: Node, tamper: Tamper | None = None) -> None:
        self.app = TestClient(create_app(node), base_url=URL)  # never entered: the node outlives it
        self.tamper = tamper
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        self.paths.append(path)
        answer = self.app.request(request.method, path)
        body = self.tamper(path, answer.content) if self.tamper else answer.content
        return httpx.Response(
            answer.status_code, headers={"content-type": answer.headers["content-type"]}, content=body
        )


class Served:
    """The registry that ``registry audit --url`` reaches in these tests."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.transport: AppTransport | None = None
        monkeypatch.setattr(cli_audit, "remote_client", self._client)

    def serve(self, node: Node, tamper: Tamper | None = None) -> AppTransport:
        self.transport = AppTransport(node, tamper)
        return self.transport

    def _client(self, url: str) -> httpx.Client:
        assert url == URL and self.transport is not None
        return httpx.Client(base_url=url, transport=self.transport)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    return Served(monkeypatch)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[Path, Node]]:
    root = tmp_path / "registry"
    node = populated_node(root, 300, batch_size=100)
    yield root, node
    node.close()


def _append(node: Node, root: Path, count: int, tag: str) -> None:
    """Open ``count`` more accounts, as one batch: the log grows by ``count`` entries."""
    operator = SignerKey.parse((DataDir(root).keys / f"{OPERATOR}.key").read_text())
    names = [f"{tag}-{n}" for n in range(count)]
    keys = [b64.encode(hashlib.sha256(name.encode()).digest()) for name in names]
    made = [
        commands.open_account(node.origin, operator=OPERATOR, account=n, role="buyer", name=n, keys=[k])
        for n, k in zip(names, keys, strict=True)
    ]
    outcomes = node.registry.submit_many([commands.sign(command, [operator]) for command in made])
    assert all(isinstance(o, Applied) for o in outcomes)


def _audit(root: Path, state: Path, *extra: str) -> tuple[int, str]:
    vkey = DataDir(root).log_vkey.read_text().strip()
    result = runner.invoke(cli, ["audit", "--url", URL, "--vkey", vkey, "--state-dir", str(state), *extra])
    return result.exit_code, result.output


def _audit_json(root: Path, state: Path, *extra: str) -> dict[str, object]:
    code, output = _audit(root, state, "--json", *extra)
    assert code == 0, output
    line = next(line for line in output.splitlines() if line.startswith("{"))
    result: dict[str, object] = json.loads(line)
    return result


def test_incremental_runs_check_only_the_new_entries(
    registry: tuple[Path, Node], served: Served, tmp_path: Path
) -> None:
    root, node = registry
    state = tmp_path / "state"
    transport = served.serve(node)
    code, output = _audit(root, state)
    assert code == 0, output
    assert "trust on first use" in output
    assert "remote audit passed" in " ".join(output.split())
    pin = pin_path(state, node.origin)
    assert Checkpoint.parse(pin.read_text().split("\n\n")[0] + "\n").size == 300

    _append(node, root, 50, "first")
    before = len(transport.paths)
    first = _audit_json(root, state)
    assert (first["previous_size"], first["size"], first["entries_checked"], first["first_use"]) == (
        300,
        350,
        50,
        False,
    )
    # The pinned tree's right edge (from tiles), then the new entries 300..349 and their tile only.
    assert transport.paths[before:] == [
        "/log/checkpoint",
        "/v1/log/consistency-proof?first=300&second=350",
        "/log/tile/1/000.p/1",
        "/log/tile/0/001.p/94",
        "/log/tile/entries/001.p/94",
    ]

    _append(node, root, 20, "second")
    second = _audit_json(root, state)
    assert (second["previous_size"], second["size"], second["entries_checked"]) == (350, 370, 20)

    again = _audit_json(root, state)
    assert (again["previous_size"], again["size"], again["entries_checked"], again["tiles_fetched"]) == (370, 370, 0, 0)


def test_an_explicit_checkpoint_file_is_the_pin(registry: tuple[Path, Node], served: Served, tmp_path: Path) -> None:
    root, node = registry
    served.serve(node)
    pinned = tmp_path / "my-checkpoint"
    pinned.write_text(node.store.checkpoint_at(200) or "")
    result = _audit_json(root, tmp_path / "state", "--checkpoint", str(pinned))
    assert (result["previous_size"], result["entries_checked"]) == (200, 100)
    assert "\n300\n" in pinned.read_text()
    assert not (tmp_path / "state").exists()


def _fork(tmp_path: Path, extra_on_fork: int) -> tuple[Path, Node, Path, Node]:
    """Two registries from one data directory and the same log key, whose histories then diverge."""
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    populated_node(root_a, 100, batch_size=50).close()
    shutil.copytree(root_a, root_b)
    node_a, node_b = open_node(root_a), open_node(root_b)
    _append(node_a, root_a, 10, "honest")
    _append(node_b, root_b, extra_on_fork, "forked")
    return root_a, node_a, root_b, node_b


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (15, "the consistency proof from 110 to 115 does not verify"),
        (10, "both checkpoints have size 110 but their roots differ"),
        (5, "the log's checkpoint has size 105, smaller than the pinned 110"),
    ],
)
def test_a_fork_prints_both_signed_notes_and_keeps_the_pin(
    tmp_path: Path, served: Served, extra: int, reason: str
) -> None:
    root_a, node_a, _, node_b = _fork(tmp_path, extra)
    state = tmp_path / "state"
    try:
        served.serve(node_a)
        assert _audit(root_a, state)[0] == 0
        pin = pin_path(state, node_a.origin)
        pinned = pin.read_text()
        served.serve(node_b)  # the same origin and log key answer with another history
        code, output = _audit(root_a, state)
        latest = node_b.latest_checkpoint().encode()
    finally:
        node_a.close()
        node_b.close()
    assert code == 1
    assert "fork detected" in output
    assert reason in " ".join(output.split())
    assert pinned in output
    assert latest in output
    assert pin.read_text() == pinned


def test_a_fork_as_json_carries_both_notes(tmp_path: Path, served: Served) -> None:
    root_a, node_a, _, node_b = _fork(tmp_path, 15)
    state = tmp_path / "state"
    try:
        served.serve(node_a)
        assert _audit(root_a, state)[0] == 0
        served.serve(node_b)
        code, output = _audit(root_a, state, "--json")
    finally:
        node_a.close()
        node_b.close()
    assert code == 1
    result = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    assert result["status"] == "fork"
    assert result["pinned"] == pin_path(state, node_a.origin).read_text()
    assert "\n115\n" in result["latest"]


def test_an_entry_rewritten_in_the_database_is_named(
    registry: tuple[Path, Node], served: Served, tmp_path: Path
) -> None:
    root, node = registry
    state = tmp_path / "state"
    served.serve(node)
    assert _audit(root, state)[0] == 0
    _append(node, root, 20, "later")
    with node.engine.begin() as conn:
        _rewrite_entry(conn, 310)
    pinned = pin_path(state, node.origin).read_text()
    code, output = _audit(root, state)
    assert code == 1
    assert "remote audit failed at entry 310" in " ".join(output.split())
    assert "the entry was rewritten" in output
    assert pin_path(state, node.origin).read_text() == pinned


def _rewrite_entry(conn: Connection, index: int, replacement: bytes | None = None) -> None:
    """Replace entry ``index`` in the database, by default changing one character of its payload."""
    data = conn.execute(sa.select(log_entries.c.data).where(log_entries.c.idx == index)).scalar_one()
    position = data.index(b'"payload":"') + 20
    rewritten = replacement or data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
    conn.execute(log_entries.update().where(log_entries.c.idx == index).values(data=rewritten))


def _rewrite_history(node: Node, root: Path, index: int, replacement: bytes | None = None) -> None:
    """Rewrite entry ``index`` as a dishonest operator would: rebuild every tile and the head from
    the altered entries and sign the latest size again with the log key."""
    with node.engine.begin() as conn:
        _rewrite_entry(conn, index, replacement)
        tree, tiles = TreeState(), {}
        for row in conn.execute(sa.select(log_entries.c.data).order_by(log_entries.c.idx)):
            tiles.update({(t.level, t.index): h for t, h in tree.append(leaf_hash(row.data))[0]})
        tiles.update(
            {
                (tree.partial_tile(level).level, tree.partial_tile(level).index): bytes(h)
                for level, h in tree.partial.items()
                if h
            }
        )
        conn.execute(log_tiles.delete())
        conn.execute(log_tiles.insert(), [{"level": lv, "idx": i, "hashes": h} for (lv, i), h in tiles.items()])
        conn.execute(log_head.update().values(root=tree.root()))
        resigned = sign_checkpoint(Checkpoint(node.origin, tree.size, tree.root()), DataDir(root).load_log_key())
        conn.execute(log_checkpoints.update().where(log_checkpoints.c.size == tree.size).values(note=resigned.encode()))


def test_history_rewritten_and_re_signed_is_a_fork(registry: tuple[Path, Node], served: Served, tmp_path: Path) -> None:
    root, node = registry
    served.serve(node)
    pinned = tmp_path / "pinned"
    pinned.write_text(node.store.checkpoint_at(200) or "")
    before = pinned.read_text()
    _rewrite_history(node, root, 50)
    code, output = _audit(root, tmp_path / "state", "--checkpoint", str(pinned))
    assert code == 1
    assert "fork detected: the consistency proof from 200 to 300 does not verify" in " ".join(output.split())
    assert before in output
    assert node.latest_checkpoint().encode() in output
    assert pinned.read_text() == before
    # The rewritten log is consistent in itself: only a pin (or a witness) from before catches it.
    assert _audit(root, tmp_path / "fresh")[0] == 0


def test_an_entry_in_the_signed_tree_that_is_not_a_log_entry_is_named(
    registry: tuple[Path, Node], served: Served, tmp_path: Path
) -> None:
    root, node = registry
    served.serve(node)
    _rewrite_history(node, root, 120, b'{"not":"an entry"}')  # canonical JSON, committed to by a signed root
    code, output = _audit(root, tmp_path / "state")
    assert code == 1
    assert "remote audit failed at entry 120: entry must be an object with exactly envelope" in " ".join(output.split())


def _flip(byte_at: int) -> Callable[[bytes], bytes]:
    return lambda body: body[:byte_at] + bytes([body[byte_at] ^ 0x20]) + body[byte_at + 1 :]


@pytest.mark.parametrize(
    ("path", "change", "where"),
    [
        ("/log/tile/entries/001.p/44", _flip(2 + 40), "entry 256"),  # a character inside entry 256
        ("/log/tile/0/001.p/44", _flip(32 * 3), "tile 0/001.p/44"),  # the leaf hash of entry 259
        ("/log/tile/entries/001.p/44", lambda body: body[:-5], "entry bundle 001.p/44"),
    ],
)
def test_a_tampered_bundle_or_tile_is_named(
    registry: tuple[Path, Node],
    served: Served,
    tmp_path: Path,
    *,
    path: str,
    change: Callable[[bytes], bytes],
    where: str,
) -> None:
    root, node = registry
    served.serve(node, lambda asked, body: change(body) if asked == path else body)
    code, output = _audit(root, tmp_path / "state")
    assert code == 1
    assert f"remote audit failed at {where}" in " ".join(output.split())
    assert not pin_path(tmp_path / "state", node.origin).exists()


WITNESS_A = SignerKey.generate("witness.example/a", ALG_COSIGNATURE_V1)
WITNESS_B = SignerKey.generate("witness.example/b", ALG_COSIGNATURE_V1)


def _cosign_latest(node: Node, *witnesses: SignerKey) -> None:
    """Append witness cosignatures to the latest recorded checkpoint, as the registry does once collected."""
    size, note = node.store.checkpoints()[-1]
    body = note.split("\n\n")[0] + "\n"
    lines = "".join(s.line() for s in sign(body, list(witnesses), timestamp=int(time.time())).signatures)
    with node.engine.begin() as conn:
        conn.execute(log_checkpoints.update().where(log_checkpoints.c.size == size).values(note=note + lines))


def _write_policy(root: Path, file: Path) -> Path:
    file.write_text(
        f"log {DataDir(root).log_vkey.read_text().strip()} {URL}\n"
        f"witness a {WITNESS_A.verifier.text()}\n"
        f"witness b {WITNESS_B.verifier.text()}\n"
        "group both all a b\n"
        "quorum both\n"
    )
    return file


def test_a_checkpoint_short_of_the_quorum_is_refused(
    registry: tuple[Path, Node], served: Served, tmp_path: Path
) -> None:
    root, node = registry
    policy = _write_policy(root, tmp_path / "policy")
    state = tmp_path / "state"
    served.serve(node)
    _cosign_latest(node, WITNESS_A)
    args = ["audit", "--url", URL, "--policy", str(policy), "--state-dir", str(state)]
    result = runner.invoke(cli, args)
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "remote audit failed at latest checkpoint" in output
    assert "group both needs 2 of 2 (a, b), 1 met (a)" in output
    assert not pin_path(state, node.origin).exists()

    _cosign_latest(node, WITNESS_B)
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "cosigned by witness.example/a, witness.example/b" in " ".join(result.output.split())


def test_remote_audit_needs_a_key_from_outside_the_server(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["audit", "--url", URL, "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "--url needs --policy or --vkey" in result.output
    policy = tmp_path / "policy"
    policy.write_text(f"log {SignerKey.generate('a.example/log').verifier.text()}\nquorum none\n")
    other = SignerKey.generate("b.example/log").verifier.text()
    result = runner.invoke(cli, ["audit", "--url", URL, "--policy", str(policy), "--vkey", other])
    assert result.exit_code == 1
    assert "--vkey is not one of the logs in the policy" in result.output


def test_audit_remote_against_a_real_server(registry: tuple[Path, Node]) -> None:
    _, node = registry
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        policy = Policy.for_log(node.log_vkey)
        pinned = node.store.checkpoint_at(100)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            report = audit_remote(HttpLogSource(client), policy, lambda origin: pinned)
        assert (report.previous_size, report.size, report.entries) == (100, 300, 200)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client, pytest.raises(RemoteAuditError):
            audit_remote(
                HttpLogSource(client), Policy.for_log(SignerKey.generate(node.origin).verifier), lambda o: None
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
