"""An independent C2SP client, written from the specifications alone, run against `registry serve`.

Nothing here imports the project's packages (`ledger`, `registry`, `api`): the client follows
c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-tiles and RFC 9162 §2.1 directly,
so that it catches bugs the project's own code would share with its own tests.

The server is the real command line: `registry demo --data-dir DIR` builds a log, and
`registry serve --data-dir DIR --port PORT` serves it on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

pytestmark = pytest.mark.slow

TILE_WIDTH = 256
HASH_SIZE = 32
ED25519_TYPE = 0x01
EM_DASH = "\u2014"
DEMO_TIMEOUT = 300.0
STARTUP_TIMEOUT = 30.0


# --- RFC 9162 §2.1 hashing ------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """MTH of a single entry: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    assert n > 1
    return 1 << ((n - 1).bit_length() - 1)


def mth(hashes: Sequence[bytes]) -> bytes:
    """The plain recursive Merkle Tree Hash over already-hashed subtrees (leaf hashes or tile hashes)."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def exact_tile_level(n: int) -> int | None:
    """The level l with n == 256**l, or None when n is not a power of 256."""
    level = 0
    while n > 1:
        if n % TILE_WIDTH:
            return None
        n //= TILE_WIDTH
        level += 1
    return level if n == 1 else None


def root_from_tiles(levels: dict[int, list[bytes]], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) using tile hashes: level l hash j is MTH(D[j*256**l : (j+1)*256**l])."""
    n = hi - lo
    assert n > 0
    level = exact_tile_level(n)
    if level is not None and lo % n == 0:
        return levels[level][lo // n]
    k = split_point(n)
    return node_hash(root_from_tiles(levels, lo, lo + k), root_from_tiles(levels, lo + k, hi))


# --- c2sp.org/signed-note and c2sp.org/tlog-checkpoint ---------------------------------------------


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


class NoteRejectedError(Exception):
    """The note carries no valid signature by the expected key, or is malformed."""


def parse_vkey(text: str) -> Verifier:
    """Parse `name+hexid+base64(0x01 || pubkey)` and check the key ID against the key."""
    name, hex_id, encoded = text.strip().split("+", 2)  # the base64 may itself contain "+"
    key = base64.b64decode(encoded, validate=True)
    assert len(key) == 1 + 32, "an Ed25519 verifier key is a type byte and 32 bytes"
    assert key[0] == ED25519_TYPE, "the signature type must be Ed25519 (0x01)"
    assert len(hex_id) == 8
    key_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    assert bytes.fromhex(hex_id) == key_id, "the key ID must be SHA-256(name || 0x0A || 0x01 || key)[:4]"
    return Verifier(name=name, key_id=key_id, public_key=Ed25519PublicKey.from_public_bytes(key[1:]))


def open_note(text: str, verifier: Verifier) -> str:
    """Return the note text once a signature line by `verifier` verifies over it."""
    if not text.endswith("\n") or "\n\n" not in text:
        raise NoteRejectedError("a note is text, a blank line and signature lines, each ending in a newline")
    cut = text.rindex("\n\n")
    body, signatures = text[: cut + 1], text[cut + 2 :]
    verified = False
    for line in signatures.removesuffix("\n").split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise NoteRejectedError(f"malformed signature line {line!r}")
        name, encoded = line.removeprefix(EM_DASH + " ").split(" ")
        signature = base64.b64decode(encoded, validate=True)
        if name != verifier.name or signature[:4] != verifier.key_id:
            continue  # an unknown key: ignored, as the spec requires
        try:
            verifier.public_key.verify(signature[4:], body.encode())
        except InvalidSignature as exc:
            raise NoteRejectedError("the log's signature does not verify") from exc
        verified = True
    if not verified:
        raise NoteRejectedError("no signature by the log's key")
    return body


def parse_checkpoint(body: str) -> Checkpoint:
    """The first three lines of a checkpoint body: origin, decimal tree size, base64 root hash."""
    lines = body.removesuffix("\n").split("\n")
    assert len(lines) >= 3 and all(lines), "a checkpoint has at least three non-empty lines"
    origin, size_text, root_text = lines[:3]
    assert size_text.isdigit() and str(int(size_text)) == size_text, "tree size is decimal, no leading zeroes"
    root = base64.b64decode(root_text, validate=True)
    assert len(root) == HASH_SIZE
    return Checkpoint(origin=origin, size=int(size_text), root=root)


# --- c2sp.org/tlog-tiles ---------------------------------------------------------------------------


def tile_index_path(n: int) -> str:
    """Encode a tile index as 3-digit groups, all but the last prefixed with `x` (1234067 -> x001/x234/067)."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_url(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"/log/tile/{level}/{tile_index_path(index)}{suffix}"


def parse_bundle(data: bytes) -> list[bytes]:
    """Entries of a bundle: each a big-endian uint16 length, then that many bytes."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        assert offset + 2 <= len(data), "truncated length prefix"
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        assert offset + length <= len(data), "truncated entry"
        entries.append(data[offset : offset + length])
        offset += length
    return entries


def fetch_binary(client: httpx.Client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, f"GET {url}: {response.status_code}"
    assert response.headers["content-type"].startswith("application/octet-stream"), url
    return response.content


def tile_layout(size: int, level: int) -> tuple[int, int]:
    """(number of full tiles, width of the partial tile or 0) at `level` for a tree of `size`."""
    count = size // TILE_WIDTH**level
    return count // TILE_WIDTH, count % TILE_WIDTH


# --- the server under test -------------------------------------------------------------------------


def registry_command() -> list[str]:
    script = Path(sys.executable).with_name("registry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """An HTTP client for `registry serve`, over a log built by `registry demo`."""
    data_dir = tmp_path_factory.mktemp("c2sp-interop")
    demo = subprocess.run(
        [*registry_command(), "demo", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    if demo.returncode != 0:
        pytest.fail(f"`registry demo` exited with {demo.returncode}:\n{demo.stdout}\n{demo.stderr}")

    port = free_port()
    log_path = data_dir.parent / "serve.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [*registry_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as http:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                if server.poll() is not None:
                    pytest.fail(f"`registry serve` exited with {server.returncode}:\n{log_path.read_text()}")
                with contextlib.suppress(httpx.TransportError):  # not listening yet
                    if http.get("/log/checkpoint").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"`registry serve` did not answer within {STARTUP_TIMEOUT} s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield http
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass(frozen=True)
class LogSnapshot:
    verifier: Verifier
    note: str
    checkpoint: Checkpoint
    levels: dict[int, list[bytes]]  # every hash at each level: full tiles, then the partial tile
    full_tiles: dict[int, list[bytes]]  # level -> concatenated full tiles only, 8192 bytes each
    entries: list[bytes]


@pytest.fixture(scope="module")
def snapshot(client: httpx.Client) -> LogSnapshot:
    """The verified checkpoint, every tile at every level and every entry bundle it requires."""
    vkey = client.get("/log/vkey")
    assert vkey.status_code == 200
    verifier = parse_vkey(vkey.text)

    response = client.get("/log/checkpoint")
    assert response.status_code == 200
    content_type = response.headers["content-type"].replace(" ", "").lower()
    assert content_type == "text/plain;charset=utf-8"
    note = response.content.decode("utf-8")
    checkpoint = parse_checkpoint(open_note(note, verifier))
    assert checkpoint.size > 0, "the demo log must not be empty"

    levels: dict[int, list[bytes]] = {}
    full_tiles: dict[int, list[bytes]] = {}
    level = 0
    while checkpoint.size // TILE_WIDTH**level > 0:
        full_count, partial_width = tile_layout(checkpoint.size, level)
        tiles = [fetch_binary(client, tile_url(level, n)) for n in range(full_count)]
        assert all(len(tile) == TILE_WIDTH * HASH_SIZE for tile in tiles)
        full_tiles[level] = tiles
        hashes = [tile[i : i + HASH_SIZE] for tile in tiles for i in range(0, len(tile), HASH_SIZE)]
        if partial_width:
            partial = fetch_binary(client, tile_url(level, full_count, partial_width))
            assert len(partial) == partial_width * HASH_SIZE
            hashes += [partial[i : i + HASH_SIZE] for i in range(0, len(partial), HASH_SIZE)]
        assert len(hashes) == checkpoint.size // TILE_WIDTH**level
        levels[level] = hashes
        level += 1

    entries: list[bytes] = []
    full_count, partial_width = tile_layout(checkpoint.size, 0)
    for n in range(full_count):
        bundle = parse_bundle(fetch_binary(client, tile_url("entries", n)))
        assert len(bundle) == TILE_WIDTH, f"full entry bundle {n} has {len(bundle)} entries"
        entries += bundle
    if partial_width:
        bundle = parse_bundle(fetch_binary(client, tile_url("entries", full_count, partial_width)))
        assert len(bundle) == partial_width, f"partial entry bundle has {len(bundle)} entries"
        entries += bundle
    assert len(entries) == checkpoint.size

    return LogSnapshot(verifier, note, checkpoint, levels, full_tiles, entries)


# --- the client checked against published vectors, without the server ------------------------------

# RFC 6962 test data of the Certificate Transparency reference implementation (merkle_tree_test.cc).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# The signed note of golang.org/x/mod/sumdb/note's documentation and tests.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_NOTE = f"{GO_TEXT}\n{EM_DASH} PeterNeumann {GO_SIGNATURE}\n"


def test_merkle_tree_hash_matches_rfc6962_vectors() -> None:
    assert mth([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    leaves = [leaf_hash(bytes.fromhex(leaf)) for leaf in CT_LEAVES]
    assert [mth(leaves[:n]).hex() for n in range(1, 9)] == CT_ROOTS


def test_signed_note_matches_go_vector() -> None:
    verifier = parse_vkey(GO_VKEY)
    assert (verifier.name, verifier.key_id.hex()) == ("PeterNeumann", "c74f20a3")
    assert open_note(GO_NOTE, verifier) == GO_TEXT
    with pytest.raises(NoteRejectedError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), verifier)


def test_tile_index_encoding() -> None:
    assert tile_index_path(0) == "000"
    assert tile_index_path(999) == "999"
    assert tile_index_path(1000) == "x001/000"
    assert tile_index_path(1234067) == "x001/x234/067"
    assert tile_url(1, 5, 17) == "/log/tile/1/005.p/17"
    assert tile_url("entries", 3) == "/log/tile/entries/003"


def test_tile_layout_matches_spec_examples() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of width 112,
    # one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1."
    assert [tile_layout(70_000, level) for level in range(4)] == [(273, 112), (1, 17), (0, 1), (0, 0)]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert [tile_layout(256, level) for level in range(3)] == [(1, 0), (0, 1), (0, 0)]


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 1000, 65_535, 65_536, 65_537, 70_000])
def test_root_from_tiles_agrees_with_plain_mth(size: int) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    # Straight from the spec's definition: hash j at level l is MTH(D[j * 256**l : (j + 1) * 256**l]).
    levels: dict[int, list[bytes]] = {0: leaves}
    level = 1
    while size // TILE_WIDTH**level:
        width = TILE_WIDTH**level
        levels[level] = [mth(leaves[j * width : (j + 1) * width]) for j in range(size // width)]
        level += 1
    assert root_from_tiles(levels, 0, size) == mth(leaves)


# --- the checks against the server -----------------------------------------------------------------


def test_checkpoint_is_signed_by_the_log_key(snapshot: LogSnapshot) -> None:
    assert snapshot.checkpoint.origin == snapshot.verifier.name
    body = open_note(snapshot.note, snapshot.verifier)
    assert body.split("\n")[1] == str(snapshot.checkpoint.size)


def test_tampered_checkpoint_is_rejected(snapshot: LogSnapshot) -> None:
    origin, size, rest = snapshot.note.split("\n", 2)
    forged = "\n".join([origin, str(int(size) + 1), rest])
    with pytest.raises(NoteRejectedError):
        open_note(forged, snapshot.verifier)
    stranger = Verifier(snapshot.verifier.name, b"\x00\x00\x00\x00", snapshot.verifier.public_key)
    if stranger.key_id != snapshot.verifier.key_id:
        with pytest.raises(NoteRejectedError, match="no signature"):
            open_note(snapshot.note, stranger)


def test_entry_bundles_hash_to_level_zero_tiles(snapshot: LogSnapshot) -> None:
    assert [leaf_hash(entry) for entry in snapshot.entries] == snapshot.levels[0]


def test_higher_level_hashes_are_roots_of_full_tiles_below(snapshot: LogSnapshot) -> None:
    for level in range(1, max(snapshot.levels) + 1):
        below = snapshot.levels[level - 1]
        for i, expected in enumerate(snapshot.levels[level]):
            tile = below[i * TILE_WIDTH : (i + 1) * TILE_WIDTH]
            assert len(tile) == TILE_WIDTH
            assert mth(tile) == expected, f"level {level} hash {i}"
        # Each full tile's concatenated bytes are those very hashes.
        for n, tile_bytes in enumerate(snapshot.full_tiles[level - 1]):
            assert tile_bytes == b"".join(below[n * TILE_WIDTH : (n + 1) * TILE_WIDTH])


def test_root_from_tiles_matches_checkpoint(snapshot: LogSnapshot) -> None:
    assert root_from_tiles(snapshot.levels, 0, snapshot.checkpoint.size) == snapshot.checkpoint.root


def test_root_from_entries_matches_checkpoint(snapshot: LogSnapshot) -> None:
    assert mth([leaf_hash(entry) for entry in snapshot.entries]) == snapshot.checkpoint.root


def flip_bit(value: bytes, bit: int = 0) -> bytes:
    return value[:-1] + bytes([value[-1] ^ (1 << bit)])


def test_tampering_is_detected(snapshot: LogSnapshot) -> None:
    size, root = snapshot.checkpoint.size, snapshot.checkpoint.root
    assert root_from_tiles(snapshot.levels, 0, size) != flip_bit(root)

    # Every hash of the top level is used by the tile-based recomputation, so flipping one must show.
    top = max(snapshot.levels)
    tampered = {level: list(hashes) for level, hashes in snapshot.levels.items()}
    tampered[top][-1] = flip_bit(tampered[top][-1])
    assert root_from_tiles(tampered, 0, size) != root

    entries = list(snapshot.entries)
    entries[-1] = flip_bit(entries[-1]) if entries[-1] else b"\x00"
    assert mth([leaf_hash(entry) for entry in entries]) != root


def test_tiles_past_the_checkpoint_are_not_found(client: httpx.Client, snapshot: LogSnapshot) -> None:
    past_last = -(-snapshot.checkpoint.size // TILE_WIDTH)  # one past the last level-0 tile, full or partial
    for url in (tile_url(0, past_last), tile_url("entries", past_last), tile_url(max(snapshot.levels) + 1, 0)):
        assert client.get(url).status_code == 404, url
