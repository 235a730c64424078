"""The RFC 9162 Merkle tree: hashing, proofs and their verification.

Hashing is RFC 9162 §2.1.1: ``leaf = SHA-256(0x00 ‖ entry)``,
``node = SHA-256(0x01 ‖ left ‖ right)``, and the empty tree hashes to ``SHA-256("")``.

Proofs are generated from a :data:`SubtreeHashes` function that returns the hash of any
*complete* subtree: ``subtree(height, index)`` covers leaves
``[index · 2**height, (index + 1) · 2**height)``. Tile storage answers it cheaply (see
:mod:`ledger.tiles`), and tests answer it from a list of leaf hashes.

The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, and first check the
things those algorithms leave implicit: that every hash is 32 bytes and that the proof has
exactly the number of hashes the sizes call for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ledger.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHashes = Callable[[int, int], bytes]
"""``subtree(height, index)``: the hash of the complete subtree of 2**height leaves at ``index``."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of a leaf, ``SHA-256(0x00 ‖ entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node, ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(start: int, end: int, subtree: SubtreeHashes) -> bytes:
    """Return MTH(D[start:end]) for a range that begins on a multiple of 2**ceil(log2(size)).

    Every range that RFC 9162's proof definitions split a tree into has that alignment.
    """
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    if size & (size - 1) == 0:
        height = size.bit_length() - 1
        return subtree(height, start >> height)
    k = _largest_power_of_two_below(size)
    return node_hash(range_hash(start, start + k, subtree), range_hash(start + k, end, subtree))


def root(size: int, subtree: SubtreeHashes) -> bytes:
    """Return the Merkle tree hash of the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else range_hash(0, size, subtree)


def inclusion_proof(index: int, size: int, subtree: SubtreeHashes) -> list[bytes]:
    """Return PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []

    def walk(start: int, end: int) -> None:
        n = end - start
        if n == 1:
            return
        k = _largest_power_of_two_below(n)
        if index < start + k:
            walk(start, start + k)
            path.append(range_hash(start + k, end, subtree))
        else:
            walk(start + k, end)
            path.append(range_hash(start, start + k, subtree))

    walk(0, size)
    return path


def consistency_proof(size1: int, size2: int, subtree: SubtreeHashes) -> list[bytes]:
    """Return PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1) for 0 < size1 ≤ size2."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    path: list[bytes] = []

    def subproof(m: int, start: int, end: int, complete: bool) -> None:
        n = end - start
        if m == n:
            if not complete:
                path.append(range_hash(start, end, subtree))
            return
        k = _largest_power_of_two_below(n)
        if m <= k:
            subproof(m, start, start + k, complete)
            path.append(range_hash(start + k, end, subtree))
        else:
            subproof(m - k, start + k, end, False)
            path.append(range_hash(start, start + k, subtree))

    subproof(size1, 0, size2, True)
    return path


def _inclusion_proof_size(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof's length into (inner, border) hashes.

    ``inner`` hashes are siblings below the point where the paths to ``index`` and to the
    last leaf diverge; ``border`` hashes are left siblings on the right border above it.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Verify that ``leaf`` (a leaf hash) is at ``index`` in the tree of ``size`` with ``expected_root``.

    Implements RFC 9162 §2.1.3.2. Raises :class:`ProofError` saying what failed.
    """
    _check_hash(leaf, "leaf hash")
    _check_hash(expected_root, "root hash")
    for i, h in enumerate(proof):
        _check_hash(h, f"inclusion proof hash {i}")
    # Step 1: the leaf must be inside the tree.
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    inner, border = _inclusion_proof_size(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has wrong size: expected {inner + border} hashes, got {len(proof)}")
    computed = _root_from_inclusion_proof(index, size, leaf, proof)
    if computed != expected_root:
        raise ProofError("inclusion proof does not lead to the expected root")


def _root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    # Step 2: fn = leaf_index, sn = tree_size − 1; step 3: r = the leaf hash.
    fn, sn, r = index, size - 1, leaf
    # Step 4: fold in every proof hash.
    for p in proof:
        if sn == 0:  # step 4a
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # step 4b: p is a left sibling
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:  # otherwise p is a right sibling
            r = node_hash(r, p)
        fn >>= 1  # step 4c
        sn >>= 1
    # Step 5: sn must be 0 once the path is consumed.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Verify that the tree of ``size2`` with ``root2`` extends the tree of ``size1`` with ``root1``.

    Implements RFC 9162 §2.1.4.2 for 0 < size1 < size2. Equal sizes need an empty proof and
    identical roots. Size 0 is refused: every tree "extends" the empty tree, so such a proof
    proves nothing and a caller asking for one has lost track of its last checkpoint.
    Raises :class:`ProofError` saying what failed.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError("tree sizes must not be negative")
    if size1 > size2:
        raise ProofError(f"size1 ({size1}) is greater than size2 ({size2})")
    if size1 == 0:
        raise ProofError("consistency with the empty tree proves nothing: size1 must be > 0")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal, so the consistency proof must be empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        return
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    for i, h in enumerate(proof):
        _check_hash(h, f"consistency proof hash {i}")
    # Step 1: an empty path fails.
    if not proof:
        raise ProofError("consistency proof is empty")
    # The expected length, as for the inclusion proof of leaf size1 − 1 in the tree of
    # size2, less the levels below the largest power of two dividing size1.
    shift = (size1 & -size1).bit_length() - 1
    inner, border = _inclusion_proof_size(size1 - 1, size2)
    inner -= shift
    first_is_power_of_two = size1 == 1 << shift
    expected = inner + border + (0 if first_is_power_of_two else 1)
    if len(proof) != expected:
        raise ProofError(f"consistency proof has wrong size: expected {expected} hashes, got {len(proof)}")
    # Step 2: if size1 is a power of two, the first root starts the path.
    path = [root1, *proof] if first_is_power_of_two else list(proof)
    # Step 3: fn = first − 1, sn = second − 1.
    fn, sn = size1 - 1, size2 - 1
    # Step 4: shift out the levels where fn is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: fr and sr start from the first path hash.
    fr = sr = path[0]
    # Step 6: fold in the rest of the path.
    for c in path[1:]:
        if sn == 0:  # step 6a
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # step 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # step 6c
        sn >>= 1
    # Step 7: both roots must match and sn must be 0.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root")


class CompactRange:
    """The right edge of a growing tree: the roots of its maximal complete subtrees.

    Appending a leaf costs one hash amortised; :meth:`root` folds at most log2(size) hashes.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[tuple[int, bytes]] = ()) -> None:
        self.size = size
        # (height, hash) of each complete subtree, left to right, heights strictly decreasing.
        self._nodes: list[tuple[int, bytes]] = list(nodes)

    @property
    def nodes(self) -> tuple[tuple[int, bytes], ...]:
        return tuple(self._nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; return every subtree completed, as (height, index, hash)."""
        completed = [(0, self.size, leaf)]
        height, node = 0, leaf
        nodes = self._nodes
        while nodes and nodes[-1][0] == height:
            _, left = nodes.pop()
            node = node_hash(left, node)
            height += 1
            completed.append((height, self.size >> height, node))
        nodes.append((height, node))
        self.size += 1
        return completed

    def root(self) -> bytes:
        """Return the Merkle tree hash of the leaves appended so far."""
        if not self._nodes:
            return EMPTY_ROOT
        result = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            result = node_hash(left, result)
        return result

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._nodes)


def leaf_hashes_subtree(leaves: Sequence[bytes]) -> SubtreeHashes:
    """Return a :data:`SubtreeHashes` over an in-memory list of leaf hashes (for tests and tools)."""
    levels: list[list[bytes]] = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def subtree(height: int, index: int) -> bytes:
        try:
            return levels[height][index]
        except IndexError:
            raise ProofError(f"no complete subtree of height {height} at index {index}") from None

    return subtree
