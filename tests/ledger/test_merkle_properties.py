"""Property tests for :mod:`ledger.merkle` and :class:`ledger.tiles.TileHashes`.

Every expected value is computed by the brute-force reference in this file, written straight
from the RFC 9162 §2.1 definitions (MTH in §2.1.1, PATH in §2.1.3.1, PROOF/SUBPROOF in
§2.1.4.1) and from the C2SP tlog-tiles layout. The library is never used to compute what it
is checked against.

The reference verifiers (:func:`ref_inclusion_ok`, :func:`ref_consistency_ok`) say whether a
proof is valid *by the definitions*: put each proof hash in place of the subtree the
definition says it stands for, rebuild the root(s), and compare. They decide the few
mutated sizes that are legitimately still valid (see :func:`test_inclusion_proof_binds_shape_not_size`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError
from ledger.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaf_hashes_subtree,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from ledger.tiles import TileHashes

Range = tuple[int, int]
"""``(start, end)``: the entries ``D[start:end]``."""

HASH_BITS = 256
TILE_WIDTH = 256
MAX_SIZE = 3000
SIZE_BITS = 64  # sizes and indexes are mutated by xor with 1 << b for every b below this

# ---------------------------------------------------------------------------------------------
# Brute-force reference, from RFC 9162 §2.1 and C2SP tlog-tiles.
# ---------------------------------------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def ref_node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]), RFC 9162 §2.1.1, literally."""
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return ref_leaf_hash(entries[0])
    k = split_point(n)
    return ref_node_hash(ref_mth(entries[:k]), ref_mth(entries[k:]))


def ref_tree_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a non-empty tree whose bottom-level node hashes are already given."""
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return ref_node_hash(ref_tree_hash(hashes[:k]), ref_tree_hash(hashes[k:]))


def ref_complete_subtrees(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """``levels[h][i]`` = MTH(D[i·2**h : (i+1)·2**h]) for every complete aligned subtree.

    For n = 2k the k of §2.1.1 is exactly n/2, so an aligned subtree's hash is the node hash
    of its two aligned halves; this builds them bottom up.
    """
    levels = [list(leaves)]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append([ref_node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def ref_path(m: int, start: int, end: int) -> list[Range]:
    """PATH(m, D[start:end]) of RFC 9162 §2.1.3.1, as the ranges whose MTH each proof hash is.

    ``m`` is an absolute leaf index, start <= m < end.
    """
    if end - start == 1:
        return []
    k = split_point(end - start)
    if m < start + k:
        return [*ref_path(m, start, start + k), (start + k, end)]
    return [*ref_path(m, start + k, end), (start, start + k)]


def ref_subproof(m: int, start: int, end: int, complete: bool) -> list[Range]:
    """SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1, as ranges (``m`` relative to start)."""
    n = end - start
    if m == n:
        return [] if complete else [(start, end)]
    k = split_point(n)
    if m <= k:
        return [*ref_subproof(m, start, start + k, complete), (start + k, end)]
    return [*ref_subproof(m - k, start + k, end, False), (start, start + k)]


def ref_rebuild(start: int, end: int, known: dict[Range, bytes]) -> bytes:
    """MTH(D[start:end]) rebuilt from the hashes ``known`` of ranges that partition it."""
    if (start, end) in known:
        return known[(start, end)]
    assert end - start > 1, f"reference bug: D[{start}:{end}] is not covered"
    k = split_point(end - start)
    return ref_node_hash(ref_rebuild(start, start + k, known), ref_rebuild(start + k, end, known))


def ref_inclusion_ok(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``proof`` is PATH(index, D[0:size]) for a tree with ``leaf`` at ``index`` and ``expected_root``."""
    if not 0 <= index < size:
        return False
    ranges = ref_path(index, 0, size)
    if len(ranges) != len(proof):
        return False
    known = {(index, index + 1): leaf, **dict(zip(ranges, proof, strict=True))}
    return ref_rebuild(0, size, known) == expected_root


def ref_consistency_ok(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` is PROOF(size1, D[0:size2]) linking trees with ``root1`` and ``root2``.

    Size 0 is refused, as the library documents (an empty tree is extended by every tree).
    """
    if not 0 < size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    ranges = ref_subproof(size1, 0, size2, True)
    if len(ranges) != len(proof):
        return False
    known = dict(zip(ranges, proof, strict=True))
    # SUBPROOF omits MTH(D[0:size1]) exactly when it stays "complete" down to it, i.e. when
    # D[0:size1] is a complete left subtree: size1 is a power of two. The verifier then
    # takes root1 on trust for that node, and only root2 checks it.
    if size1 & (size1 - 1) == 0:
        known[(0, size1)] = root1
        rebuilt1 = root1
    else:
        rebuilt1 = ref_rebuild(0, size1, known)
    return rebuilt1 == root1 and ref_rebuild(0, size2, known) == root2


def build_tiles(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every hash tile of the tree of ``len(leaves)`` leaves, per C2SP tlog-tiles.

    Level 0 holds the leaf hashes; level L holds the root of each *full* tile of level L-1.
    Each level is cut into tiles of 256 hashes; the last may be partial.
    """
    tiles: dict[tuple[int, int], bytes] = {}
    level, hashes = 0, list(leaves)
    while hashes:
        assert len(hashes) == len(leaves) >> (8 * level)  # tlog-tiles: floor(s / 256**L) hashes at level L
        for start in range(0, len(hashes), TILE_WIDTH):
            tiles[(level, start // TILE_WIDTH)] = b"".join(hashes[start : start + TILE_WIDTH])
        hashes = [
            ref_tree_hash(hashes[start : start + TILE_WIDTH])
            for start in range(0, len(hashes) - TILE_WIDTH + 1, TILE_WIDTH)
        ]
        level += 1
    return tiles


def tile_reader(tiles: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    def read(level: int, index: int) -> bytes:
        return tiles[(level, index)]  # a KeyError means a tile that does not exist was asked for

    return read


def make_entries(size: int, salt: int) -> list[bytes]:
    """``size`` distinct entries (distinct leaves keep coincidences out of the mutation tests)."""
    return [b"entry %d/%d" % (salt, i) + b"\xff" * (i % 3) for i in range(size)]


def flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def inclusion_accepts(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Run the library verifier: True if it accepts, False if it raises ProofError (anything else propagates)."""
    try:
        verify_inclusion(index, size, leaf, proof, expected_root)
    except ProofError:
        return False
    return True


def consistency_accepts(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    try:
        verify_consistency(size1, size2, root1, root2, proof)
    except ProofError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

_POWERS = [1 << i for i in range(12)]  # 1 … 2048
SPECIAL_SIZES = sorted(
    {s for p in _POWERS for s in (p - 1, p, p + 1) if s >= 1}
    | {255, 256, 257, 511, 512, 513, 767, 768, 769, 2303, 2304, 2305, MAX_SIZE}
)
sizes = st.one_of(st.sampled_from(SPECIAL_SIZES), st.integers(1, MAX_SIZE))
salts = st.integers(0, 2**32)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    index = draw(st.one_of(st.integers(0, size - 1), st.sampled_from(sorted({0, size // 2, size - 1}))))
    return size, index


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    """0 < size1 <= size2, with size1 == size2 and power-of-two / tile-boundary size1 drawn often."""
    size2 = draw(sizes)
    near = [s for s in SPECIAL_SIZES if s <= size2] + [size2]
    size1 = draw(st.one_of(st.integers(1, size2), st.sampled_from(near)))
    return size1, size2


# ---------------------------------------------------------------------------------------------
# Hashes, roots, proofs and the compact range against the reference
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100), st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_hash_primitives_follow_rfc_9162(entry: bytes, left: bytes, right: bytes) -> None:
    assert leaf_hash(entry) == ref_leaf_hash(entry)
    assert node_hash(left, right) == ref_node_hash(left, right)


def test_empty_tree_root() -> None:
    assert root(0, leaf_hashes_subtree([])) == sha256(b"") == ref_mth([])
    assert CompactRange().root() == sha256(b"")


@settings(max_examples=100, deadline=None)
@given(size_and_index(), salts)
def test_root_and_inclusion_proof_match_brute_force(size_index: tuple[int, int], salt: int) -> None:
    size, index = size_index
    entries = make_entries(size, salt)
    leaves = [ref_leaf_hash(e) for e in entries]
    expected_root = ref_mth(entries)
    subtree = leaf_hashes_subtree(leaves)

    assert root(size, subtree) == expected_root
    proof = inclusion_proof(index, size, subtree)
    assert proof == [ref_mth(entries[start:end]) for start, end in ref_path(index, 0, size)]
    verify_inclusion(index, size, leaves[index], proof, expected_root)
    assert ref_inclusion_ok(index, size, leaves[index], proof, expected_root)  # the reference agrees


@settings(max_examples=60, deadline=None)
@given(sizes, salts, st.lists(st.integers(0, MAX_SIZE), max_size=8))
def test_compact_range_matches_brute_force(size: int, salt: int, checkpoints: list[int]) -> None:
    entries = make_entries(size, salt)
    leaves = [ref_leaf_hash(e) for e in entries]
    complete = ref_complete_subtrees(leaves)
    check_at = {c % (size + 1) for c in checkpoints} | {size}

    compact = CompactRange()
    if 0 in check_at:
        assert compact.root() == sha256(b"")
    for i, leaf in enumerate(leaves):
        completed = compact.append(leaf)
        # Each append reports the leaf and every complete subtree it closes, lowest first.
        assert completed == [(h, i >> h, complete[h][i >> h]) for h in range(len(completed))]
        assert ((i + 1) >> len(completed)) << len(completed) != i + 1  # ... and no more than those
        assert compact.size == i + 1
        if i + 1 in check_at:
            assert compact.root() == ref_mth(entries[: i + 1])
            assert compact.copy().root() == compact.root()
    # The right edge is the binary decomposition of the size, largest subtree first.
    assert [h for h, _ in compact.nodes] == [h for h in reversed(range(size.bit_length())) if size >> h & 1]


@settings(max_examples=100, deadline=None)
@given(two_sizes(), salts)
def test_consistency_proof_matches_brute_force(sizes12: tuple[int, int], salt: int) -> None:
    size1, size2 = sizes12
    entries = make_entries(size2, salt)
    leaves = [ref_leaf_hash(e) for e in entries]
    root1, root2 = ref_mth(entries[:size1]), ref_mth(entries)
    subtree = leaf_hashes_subtree(leaves)

    assert root(size1, subtree) == root1  # an older tree's root, from the newer tree's subtrees
    proof = consistency_proof(size1, size2, subtree)
    assert proof == [ref_mth(entries[start:end]) for start, end in ref_subproof(size1, 0, size2, True)]
    verify_consistency(size1, size2, root1, root2, proof)
    assert ref_consistency_ok(size1, size2, root1, root2, proof)  # the reference agrees


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(size_and_index(), salts)
def test_mutated_inclusion_proof_is_rejected(size_index: tuple[int, int], salt: int) -> None:
    size, index = size_index
    entries = make_entries(size, salt)
    leaves = [ref_leaf_hash(e) for e in entries]
    good_root = ref_mth(entries)
    leaf = leaves[index]
    proof = inclusion_proof(index, size, leaf_hashes_subtree(leaves))
    assert inclusion_accepts(index, size, leaf, proof, good_root)

    for bit in range(HASH_BITS):
        for i in range(len(proof)):
            bad_proof = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
            assert not inclusion_accepts(index, size, leaf, bad_proof, good_root), (i, bit)
        assert not inclusion_accepts(index, size, leaf, proof, flip(good_root, bit)), bit
        assert not inclusion_accepts(index, size, flip(leaf, bit), proof, good_root), bit

    for i in range(len(proof)):
        assert not inclusion_accepts(index, size, leaf, [*proof[:i], *proof[i + 1 :]], good_root), i
    for extra in {sha256(b"extra"), leaf, good_root, *proof}:
        assert not inclusion_accepts(index, size, leaf, [*proof, extra], good_root)
        assert not inclusion_accepts(index, size, leaf, [extra, *proof], good_root)

    for bit in range(SIZE_BITS):
        # In a fixed tree every leaf has its own path, so another index never fits the proof.
        bad_index = index ^ (1 << bit)
        assert not ref_inclusion_ok(bad_index, size, leaf, proof, good_root)
        assert not inclusion_accepts(bad_index, size, leaf, proof, good_root), bad_index

        # Another size is NOT always rejected, and legitimately so: the proof hashes are opaque,
        # so the proof only pins down the tree's *shape* along the path (how many siblings, on
        # which side). Sizes with the same shape accept the same proof — e.g. leaf 0 of size 5
        # and of size 7 both have PATH = [right, right, right] (see the explicit test below).
        # The reference decides from the RFC definitions which sizes those are; the library
        # must agree with it exactly, in both directions.
        bad_size = size ^ (1 << bit)
        expected = ref_inclusion_ok(index, bad_size, leaf, proof, good_root)
        if expected:
            event("inclusion: a mutated size has the same shape and verifies")
        assert inclusion_accepts(index, bad_size, leaf, proof, good_root) == expected, (bad_size, expected)


@settings(max_examples=100, deadline=None)
@given(two_sizes(), salts)
def test_mutated_consistency_proof_is_rejected(sizes12: tuple[int, int], salt: int) -> None:
    size1, size2 = sizes12
    entries = make_entries(size2, salt)
    leaves = [ref_leaf_hash(e) for e in entries]
    root1, root2 = ref_mth(entries[:size1]), ref_mth(entries)
    proof = consistency_proof(size1, size2, leaf_hashes_subtree(leaves))
    assert consistency_accepts(size1, size2, root1, root2, proof)

    for bit in range(HASH_BITS):
        for i in range(len(proof)):
            bad_proof = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
            assert not consistency_accepts(size1, size2, root1, root2, bad_proof), (i, bit)
        assert not consistency_accepts(size1, size2, flip(root1, bit), root2, proof), bit
        assert not consistency_accepts(size1, size2, root1, flip(root2, bit), proof), bit

    for i in range(len(proof)):
        assert not consistency_accepts(size1, size2, root1, root2, [*proof[:i], *proof[i + 1 :]]), i
    for extra in {sha256(b"extra"), root1, root2, *proof}:
        assert not consistency_accepts(size1, size2, root1, root2, [*proof, extra])
        assert not consistency_accepts(size1, size2, root1, root2, [extra, *proof])

    for bit in range(SIZE_BITS):
        # As for inclusion, a mutated size is legitimately accepted when the proof has the
        # same shape for it (e.g. 1 → 5 and 1 → 7); the library must agree with the reference.
        # With size1 == size2 every mutation is rejected (the proof is empty, and an empty proof
        # is only valid between equal sizes).
        for bad1, bad2 in ((size1 ^ (1 << bit), size2), (size1, size2 ^ (1 << bit))):
            expected = ref_consistency_ok(bad1, bad2, root1, root2, proof)
            if size1 == size2:
                assert not expected
            if expected:
                event("consistency: a mutated size has the same shape and verifies")
            assert consistency_accepts(bad1, bad2, root1, root2, proof) == expected, (bad1, bad2, expected)


def test_inclusion_proof_binds_shape_not_size() -> None:
    """The legitimate exception in the mutation tests, shown once with concrete numbers.

    PATH(0, D[0:5]) = [MTH(D[1:2]), MTH(D[2:4]), MTH(D[4:5])], every one a right sibling, and
    PATH(0, D[0:7]) has the same shape. Since proof hashes are opaque, the size-5 proof and
    root also verify as "leaf 0 of a tree of size 7": RFC 9162 verification cannot tell, and
    a verifier that rejected it would reject some genuine size-7 proof with the same hashes.
    Sizes are bound by the signed checkpoint, not by the proof.
    """
    entries = make_entries(5, 0)
    leaves = [ref_leaf_hash(e) for e in entries]
    proof = inclusion_proof(0, 5, leaf_hashes_subtree(leaves))
    assert 5 ^ 7 == 2  # a single-bit change
    assert ref_inclusion_ok(0, 7, leaves[0], proof, ref_mth(entries))
    verify_inclusion(0, 7, leaves[0], proof, ref_mth(entries))

    consistency = consistency_proof(1, 5, leaf_hashes_subtree(leaves))
    assert ref_consistency_ok(1, 7, ref_mth(entries[:1]), ref_mth(entries), consistency)
    verify_consistency(1, 7, ref_mth(entries[:1]), ref_mth(entries), consistency)


# ---------------------------------------------------------------------------------------------
# Tiles
# ---------------------------------------------------------------------------------------------


TILE_CACHE_BYTES = 511 * 32  # an expanded full tile: 256 + 128 + … + 1 hashes


def _check_tiles_against_memory(entries: Sequence[bytes], size1: int, indexes: Sequence[int], cache_tiles: int) -> None:
    """Proofs from tiles equal proofs from the in-memory leaf list.

    Checked for the tree of ``len(entries)`` served from its own tiles, and for the older tree
    of ``size1`` served from the newer tree's tiles (as a log serves old checkpoints). A third
    reader sees the log grow: it serves the size1 tree first, then the same TileHashes serves
    the size2 tree after the store's tiles were replaced (partial tiles must be read again).
    """
    size2 = len(entries)
    leaves = [ref_leaf_hash(e) for e in entries]
    memory = leaf_hashes_subtree(leaves)
    root1, root2 = ref_mth(entries[:size1]), ref_mth(entries)
    cache_bytes = cache_tiles * TILE_CACHE_BYTES  # room for about ``cache_tiles`` expanded full tiles
    new_tiles = TileHashes(tile_reader(build_tiles(leaves)), cache_bytes=cache_bytes)
    store = build_tiles(leaves[:size1])
    growing = TileHashes(tile_reader(store), cache_bytes=cache_bytes)

    def check_size1(subtree: Callable[[int, int], bytes]) -> None:
        assert root(size1, subtree) == root1
        for index in indexes:
            if index < size1:
                assert inclusion_proof(index, size1, subtree) == inclusion_proof(index, size1, memory), index
        for size0 in {1, size1 // 2 or 1, size1 - 1 or 1, size1}:
            assert consistency_proof(size0, size1, subtree) == consistency_proof(size0, size1, memory), size0

    def check_size2(subtree: Callable[[int, int], bytes]) -> None:
        assert root(size2, subtree) == root2
        for index in indexes:
            assert inclusion_proof(index, size2, subtree) == inclusion_proof(index, size2, memory), index
        assert consistency_proof(size1, size2, subtree) == consistency_proof(size1, size2, memory)

    check_size1(new_tiles)
    check_size2(new_tiles)
    check_size1(growing)
    store.clear()
    store.update(build_tiles(leaves))
    check_size2(growing)
    check_size1(growing)


@settings(max_examples=60, deadline=None)
@given(two_sizes(), salts, st.data(), st.sampled_from([1, 2, 4096]))
def test_tile_hashes_give_the_same_proofs(
    sizes12: tuple[int, int], salt: int, data: st.DataObject, cache_tiles: int
) -> None:
    size1, size2 = sizes12
    indexes = data.draw(st.lists(st.integers(0, size2 - 1), min_size=1, max_size=6))
    indexes += [0, size1 - 1, size2 - 1]
    _check_tiles_against_memory(make_entries(size2, salt), size1, indexes, cache_tiles)


def test_tile_hashes_across_level_two() -> None:
    """One tree large enough to have level-2 hashes (two of them), with tile-boundary indexes."""
    size2 = 2 * 65536 + 3 * 256 + 5
    entries = make_entries(size2, 7)
    indexes = [0, 255, 256, 65535, 65536, 65537, 131071, 131072, 131072 + 256, size2 - 1, 12345, 99999]
    for size1 in (65536, 65537, 131072 + 255):
        _check_tiles_against_memory(entries, size1, indexes, 4096)
