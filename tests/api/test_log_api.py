"""The log read API: tiles, bundles, checkpoint, vkey, proofs and receipts, within the checkpoint."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.checkpoint import open_checkpoint
from ledger.keys import VerifierKey
from ledger.merkle import leaf_hash, leaf_hashes_subtree, verify_consistency, verify_inclusion
from ledger.merkle import root as merkle_root
from ledger.receipt import Receipt, verify_receipt
from ledger.tiles import decode_bundle
from registry.node import Node
from tests.builders import populated_node

ENTRIES = 600


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, module_database_cli_url: str) -> Iterator[Node]:
    """One registry for the module: these tests only read it."""
    demo = populated_node(tmp_path_factory.mktemp("log") / "registry", ENTRIES, database_url=module_database_cli_url)
    yield demo
    demo.close()


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node))


def _vkey(client: TestClient) -> VerifierKey:
    response = client.get("/log/vkey")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    return VerifierKey.parse(response.text)


def test_checkpoint_is_signed_and_covers_every_entry(client: TestClient) -> None:
    response = client.get("/log/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    signed = open_checkpoint(response.text, _vkey(client))
    assert signed.size == ENTRIES
    bundles = [
        client.get(p).content for p in ("/log/tile/entries/000", "/log/tile/entries/001", "/log/tile/entries/002.p/88")
    ]
    entries = [e for b in bundles for e in decode_bundle(b)]
    assert len(entries) == ENTRIES
    assert merkle_root(ENTRIES, leaf_hashes_subtree([leaf_hash(e) for e in entries])) == signed.root


def test_tiles_follow_tlog_tiles(client: TestClient) -> None:
    full = client.get("/log/tile/0/001")
    assert full.status_code == 200
    assert len(full.content) == 8192
    assert full.headers["content-type"] == "application/octet-stream"
    assert "immutable" in full.headers["cache-control"]
    partial = client.get("/log/tile/0/002.p/88")
    assert len(partial.content) == 88 * 32
    assert client.get("/log/tile/0/002.p/10").content == partial.content[: 10 * 32]
    assert len(client.get("/log/tile/1/000.p/2").content) == 64


@pytest.mark.parametrize(
    "path",
    [
        "/log/tile/0/002",  # not full at the published size
        "/log/tile/0/002.p/89",  # wider than the published tree
        "/log/tile/0/003.p/1",
        "/log/tile/1/000",
        "/log/tile/2/000.p/1",
        "/log/tile/entries/002",
        "/log/tile/0/2",  # index not zero-padded
        "/log/tile/0/002.p/0",
        "/log/tile/0/002.p/256",
        "/log/tile/64/000",
        "/log/tile/01/000",
    ],
)
def test_nothing_beyond_the_checkpoint_or_malformed_is_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


def test_inclusion_and_consistency_proofs_verify(client: TestClient) -> None:
    signed = open_checkpoint(client.get("/log/checkpoint").text, _vkey(client))
    proof = client.get("/v1/log/entries/300/inclusion-proof").json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(300, proof["tree_size"], base64.b64decode(proof["leaf_hash"]), hashes, signed.root)
    older = client.get("/v1/log/entries/5/inclusion-proof", params={"tree_size": 100}).json()
    assert older["tree_size"] == 100
    consistency = client.get("/v1/log/consistency-proof", params={"first": 100}).json()
    assert consistency["second"] == ENTRIES
    # The root of the first 100 entries, recomputed from the entry bundle.
    first_100 = decode_bundle(client.get("/log/tile/entries/000").content)[:100]
    root_100 = merkle_root(100, leaf_hashes_subtree([leaf_hash(e) for e in first_100]))
    verify_consistency(100, ENTRIES, root_100, signed.root, [base64.b64decode(h) for h in consistency["hashes"]])


def test_receipt_verifies_offline_and_a_changed_character_fails(client: TestClient) -> None:
    response = client.get("/v1/log/entries/42/receipt")
    assert response.status_code == 200
    receipt = response.text
    signed = verify_receipt(receipt, _vkey(client))
    assert signed.size == ENTRIES
    assert Receipt.parse(receipt).index == 42
    tampered = receipt.replace("index 42", "index 43")
    with pytest.raises(Exception, match="entry 43"):
        verify_receipt(tampered, _vkey(client))


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/log/entries/600/inclusion-proof", 404),
        ("/v1/log/entries/5/inclusion-proof?tree_size=601", 404),
        ("/v1/log/entries/5/inclusion-proof?tree_size=0", 422),
        ("/v1/log/entries/abc/inclusion-proof", 422),
        ("/v1/log/consistency-proof?first=0", 422),
        ("/v1/log/consistency-proof?first=700", 404),
        ("/v1/log/entries/600/receipt", 404),
        ("/no/such/path", 404),
    ],
)
def test_errors_are_problem_json(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["detail"]


@pytest.mark.parametrize(
    "path", ["/log/tile/0/x000/001", "/log/tile/0/x000/x000/x000/000.p/10", "/log/tile/0/" + "x999/" * 8 + "000"]
)
def test_a_tile_has_one_path(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_proofs_for_an_older_size_carry_that_size_s_checkpoint(client: TestClient) -> None:
    vkey = _vkey(client)
    proof = client.get("/v1/log/entries/5/inclusion-proof", params={"tree_size": 100}).json()
    signed = open_checkpoint(proof["checkpoint"], vkey)
    assert signed.size == 100
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(5, 100, base64.b64decode(proof["leaf_hash"]), hashes, signed.root)
    assert client.get("/v1/log/entries/5/inclusion-proof", params={"tree_size": 99}).json()["checkpoint"] is None


def test_an_unexpected_failure_is_a_problem_too(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(node), raise_server_exceptions=False)

    def lost_database() -> None:
        raise OSError("the database vanished under the server")

    monkeypatch.setattr(node.store, "latest_checkpoint", lost_database)
    response = client.get("/log/checkpoint")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/internal-error"


# --- caching (RFC 9110 §8.8.3 ETag, §13.1.2 If-None-Match) ----------------------------------------


@pytest.mark.parametrize("path", ["/log/tile/0/001", "/log/tile/0/002.p/88", "/log/tile/entries/000"])
def test_tiles_and_bundles_carry_a_strong_etag_and_answer_304(client: TestClient, path: str) -> None:
    first = client.get(path)
    etag = first.headers["etag"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(first.content).digest()).rstrip(b"=").decode()
    assert etag == f'"{digest}"'  # strong: no W/ prefix, and it names exactly these bytes
    assert client.get(path).headers["etag"] == etag
    for if_none_match in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        again = client.get(path, headers={"If-None-Match": if_none_match})
        assert again.status_code == 304, if_none_match
        assert again.content == b""
        assert (again.headers["etag"], again.headers["cache-control"]) == (etag, "public, max-age=31536000, immutable")
    other = client.get(path, headers={"If-None-Match": '"other"'})
    assert (other.status_code, other.content) == (200, first.content)


def test_tiles_of_different_content_have_different_etags(client: TestClient) -> None:
    tags = {client.get(p).headers["etag"] for p in ("/log/tile/0/000", "/log/tile/0/001", "/log/tile/0/002.p/88")}
    assert len(tags) == 3


def test_the_checkpoint_has_an_etag_and_no_cache(client: TestClient, node: Node) -> None:
    response = client.get("/log/checkpoint")
    assert response.headers["cache-control"] == "no-cache"
    digest = base64.urlsafe_b64encode(hashlib.sha256(node.served_checkpoint().encode().encode()).digest())
    assert response.headers["etag"] == '"' + digest.rstrip(b"=").decode() + '"'
    again = client.get("/log/checkpoint", headers={"If-None-Match": response.headers["etag"]})
    assert (again.status_code, again.content, again.headers["cache-control"]) == (304, b"", "no-cache")
    assert client.get("/log/checkpoint", headers={"If-None-Match": '"stale"'}).text == response.text
