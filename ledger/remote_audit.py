"""The remote audit: check a running log from its public read API alone, incrementally.

The auditor keeps a *pin*: the last checkpoint it verified. Each run trusts nothing the server
says beyond what the log's key (and the policy's witnesses) signed. Steps, marked below:

(1) fetch the latest checkpoint (C2SP tlog-checkpoint) and verify it against the trust policy:
    the log's signature and the witness quorum (:mod:`ledger.trust_policy`);
(2) check the pin: signed by the same log, same origin; with no pin, trust on first use
    from the empty tree;
(3) compare sizes: a smaller tree, or the same size with another root, is a fork;
(4) fetch the RFC 9162 consistency proof from the pinned size and verify it here
    (RFC 9162 §2.1.4.2); one that does not verify means the two signed trees are not
    shown to be one history;
(5) rebuild the pinned tree's right edge (its compact range) from hash tiles (C2SP
    tlog-tiles) and check it against the pinned root, so the hashes we extend are authentic;
(6) fetch the entry bundles and level-0 tiles covering the new entries, extend the pinned
    tree with the entries' leaf hashes (RFC 9162 §2.1.1) and require the new root; the
    level-0 tiles, once they too lead to the new root, name the entry that does not;
(7) decode every new entry: canonical JSON with a well-formed DSSE envelope (:mod:`ledger.entry`).

A fork raises :class:`RemoteForkError` carrying both signed notes verbatim, as evidence; any
other failure raises :class:`RemoteAuditError` naming where it is. The caller writes the new
pin (:func:`ledger.sequencer.write_atomically`) only after a run passes.

I/O is behind :class:`LogSource`; :class:`HttpLogSource` reads the tlog-tiles paths with an
``httpx.Client`` the caller provides (tests hand in an in-process application's client).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from ledger.audit import AuditError
from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.entry import LogEntry
from ledger.errors import CheckpointError, LedgerError, ProofError
from ledger.merkle import HASH_SIZE, CompactRange, leaf_hash, verify_consistency
from ledger.tiles import TILE_WIDTH, Tile, TileHashes, decode_bundle, tile_width_at
from ledger.trust_policy import Policy


class RemoteAuditError(AuditError):
    """The remote audit found a fault, or could not read what it needs; ``where`` names it."""

    code = "remote-audit-failed"


class RemoteForkError(RemoteAuditError):
    """The log's new checkpoint is not consistent with the pinned one: both notes are the evidence."""

    code = "fork"

    def __init__(self, reason: str, pinned: str, latest: str) -> None:
        super().__init__("checkpoint", reason)
        self.pinned = pinned
        self.latest = latest


class LogSource(Protocol):
    """Where the audit reads the log: the C2SP tlog-tiles resources and a consistency proof."""

    def checkpoint(self) -> str:
        """The latest checkpoint note, verbatim."""
        ...

    def tile(self, tile: Tile) -> bytes:
        """A hash tile or (level ``-1``) an entry bundle, at the width asked for."""
        ...

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The RFC 9162 consistency proof from tree ``first`` to tree ``second`` (unverified)."""
        ...


class HttpLogSource:
    """A :class:`LogSource` over a registry's public read API, through ``client``.

    ``client`` must have the registry's base URL; every non-2xx answer or transport failure
    raises :class:`RemoteAuditError` naming the path.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def checkpoint(self) -> str:
        return self._get("/log/checkpoint").decode("utf-8", errors="replace")

    def tile(self, tile: Tile) -> bytes:
        return self._get(f"/log/{tile.path}")

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        body = self._get(f"/v1/log/consistency-proof?first={first}&second={second}")
        try:
            return [base64.b64decode(h, validate=True) for h in json.loads(body)["hashes"]]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise RemoteAuditError("consistency proof", f"the server's answer is not a proof: {exc}") from None

    def _get(self, path: str) -> bytes:
        try:
            response = self.client.get(path)
        except httpx.HTTPError as exc:
            raise RemoteAuditError(path, f"cannot fetch: {exc}") from None
        if response.status_code != 200:
            raise RemoteAuditError(path, f"the server answered {response.status_code}")
        return response.content


@dataclass(frozen=True)
class RemoteAuditReport:
    """What a passing remote audit checked; ``checkpoint`` is the note to pin next."""

    origin: str
    previous_size: int
    size: int
    root: bytes
    entries: int
    """How many new entries were fetched, decoded and hashed into the tree."""
    tiles: int
    """How many tiles and entry bundles were fetched."""
    first_use: bool
    """No pin was given: the log was trusted on first use from the empty tree."""
    checkpoint: SignedCheckpoint


def audit_remote(
    source: LogSource,
    policy: Policy,
    pinned_for: Callable[[str], str | None],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RemoteAuditReport:
    """Audit the log behind ``source`` from its pinned checkpoint to its latest checkpoint.

    ``pinned_for(origin)`` returns the pinned checkpoint note of the log ``origin``, or None.

    Returns a report whose ``checkpoint`` the caller should pin. Raises :class:`RemoteForkError`
    when the latest checkpoint does not extend the pinned one, :class:`RemoteAuditError` when the
    checkpoint misses the policy, an entry or tile is not what the signed tree commits to, or
    the server does not answer. ``progress(done, total)`` counts new entries checked.
    """
    latest_note = source.checkpoint()  # (1)
    try:
        latest = policy.verify(latest_note)
    except CheckpointError as exc:
        raise RemoteAuditError("latest checkpoint", str(exc)) from None
    try:
        log_key = policy.log_key(latest.checkpoint.origin)
    except LedgerError as exc:
        raise RemoteAuditError("policy", str(exc)) from None

    pinned = pinned_for(latest.checkpoint.origin)  # (2)
    old_size, old_root = 0, b""
    if pinned is not None:
        try:
            # The pin met the policy when it was written; now only the log's own signature matters.
            old = open_checkpoint(pinned, log_key)
        except CheckpointError as exc:
            raise RemoteAuditError("pinned checkpoint", str(exc)) from None
        old_size, old_root = old.size, old.root

    def fork(reason: str) -> RemoteForkError:
        assert pinned is not None
        return RemoteForkError(reason, pinned, latest_note)

    if latest.size < old_size:  # (3)
        raise fork(f"the log's checkpoint has size {latest.size}, smaller than the pinned {old_size}")
    if latest.size == old_size and latest.root != old_root and pinned is not None:
        raise fork(f"both checkpoints have size {old_size} but their roots differ")
    if 0 < old_size < latest.size:  # (4) RFC 9162 §2.1.4.2, verified here: the server is not trusted
        proof = source.consistency_proof(old_size, latest.size)
        try:
            verify_consistency(old_size, latest.size, old_root, latest.root, proof)
        except ProofError as exc:
            raise fork(f"the consistency proof from {old_size} to {latest.size} does not verify: {exc}") from None

    tree = _Tiles(source, latest.size)
    if latest.size > old_size:
        edge = tree.compact_range(old_size)  # (5)
        if pinned is not None and edge.root() != old_root:
            # (4) showed the two checkpoints consistent: these tiles are not the signed tree's.
            raise RemoteAuditError("hash tiles", f"they do not rebuild the pinned root at size {old_size}")
        tree.extend(edge, latest.root, progress)  # (6) and (7)
    return RemoteAuditReport(
        origin=latest.checkpoint.origin,
        previous_size=old_size,
        size=latest.size,
        root=latest.root,
        entries=latest.size - old_size,
        tiles=tree.fetched,
        first_use=pinned is None,
        checkpoint=latest,
    )


class _Tiles:
    """The tiles of the tree of ``size``, fetched at the widths that tree gives them (C2SP tlog-tiles)."""

    def __init__(self, source: LogSource, size: int) -> None:
        self.source = source
        self.size = size
        self.fetched = 0
        self._level0: dict[int, bytes] = {}  # the right edge's level-0 tile is read again to extend it

    def fetch(self, level: int, index: int) -> bytes:
        """Tile (level, index) of this tree, or its entry bundle for level ``-1``; the length is checked."""
        if level == 0 and index in self._level0:
            return self._level0[index]
        width = tile_width_at(max(level, 0), index, self.size)
        tile = Tile(level, index, width)
        data = self.source.tile(tile)
        self.fetched += 1
        if level == 0:
            self._level0[index] = data
        if level >= 0 and len(data) != width * HASH_SIZE:
            raise RemoteAuditError(_name(tile), f"holds {len(data)} bytes, {width * HASH_SIZE} expected")
        return data

    def compact_range(self, size: int) -> CompactRange:
        """The roots of the complete subtrees that make up the tree of ``size`` (its right edge)."""
        hashes = TileHashes(self.fetch)
        nodes: list[tuple[int, bytes]] = []
        start = 0
        for height in reversed(range(size.bit_length())):
            if size >> height & 1:
                try:
                    nodes.append((height, hashes(height, start >> height)))
                except ProofError as exc:
                    raise RemoteAuditError("hash tiles", str(exc)) from None
                start += 1 << height
        return CompactRange(size, nodes)

    def extend(self, edge: CompactRange, root: bytes, progress: Callable[[int, int], None] | None) -> None:
        """Append the entries [edge.size, self.size) to ``edge``, require ``root``, and decode each.

        Bundles are streamed: only the tree's right edge and the first fault are kept.
        """
        first, total = edge.size, self.size - edge.size
        from_entries, from_tiles = edge.copy(), edge.copy()
        differs: int | None = None  # the first new index whose entry and level-0 tile hash disagree
        malformed: tuple[int, str] | None = None  # the first new entry that does not decode
        for index in range(first // TILE_WIDTH, -(-self.size // TILE_WIDTH)):
            bundle = Tile(-1, index, tile_width_at(0, index, self.size))
            try:
                batch = decode_bundle(self.fetch(-1, index))
            except ValueError as exc:
                raise RemoteAuditError(_name(bundle), str(exc)) from None
            if len(batch) != bundle.width:
                raise RemoteAuditError(_name(bundle), f"holds {len(batch)} entries, {bundle.width} expected")
            level0 = self.fetch(0, index)
            skip = max(0, first - index * TILE_WIDTH)  # the start of the first bundle was checked before
            for offset in range(skip, bundle.width):
                at = index * TILE_WIDTH + offset
                leaf, served = leaf_hash(batch[offset]), level0[offset * HASH_SIZE : (offset + 1) * HASH_SIZE]
                from_entries.append(leaf)
                from_tiles.append(served)
                if leaf != served and differs is None:
                    differs = at
                if malformed is None and (problem := _entry_problem(batch[offset])) is not None:
                    malformed = (at, problem)  # (7), reported once the tree says whether it was rewritten
            if progress is not None:
                progress(from_entries.size - first, total)
        authentic = from_entries.root() == root
        if authentic and differs is not None:
            # The entries are the signed tree's leaves: the level-0 tile is served wrong.
            tile = Tile(0, differs // TILE_WIDTH, tile_width_at(0, differs // TILE_WIDTH, self.size))
            raise RemoteAuditError(_name(tile), f"hash {differs % TILE_WIDTH} is not the leaf hash of entry {differs}")
        if not authentic and from_tiles.root() == root and differs is not None:
            # The level-0 tiles extend the authenticated pinned edge to the signed root, so they are
            # the tree's true leaves, and the entry that disagrees with them was rewritten.
            raise RemoteAuditError(
                f"entry {differs}",
                "its leaf hash differs from the one the signed checkpoint commits to: the entry was rewritten",
            )
        if not authentic:
            raise RemoteAuditError(
                f"entries {first}..{self.size - 1}",
                f"neither the entries nor the level-0 tiles lead to the checkpoint's root at size {self.size}",
            )
        if malformed is not None:  # in the signed tree, yet not a log entry
            raise RemoteAuditError(f"entry {malformed[0]}", malformed[1])


def _entry_problem(data: bytes) -> str | None:
    """Why ``data`` is not a log entry with a well-formed DSSE envelope (:mod:`ledger.entry`), or None."""
    try:
        LogEntry.decode(data)
    except LedgerError as exc:
        return str(exc)
    return None


def _name(tile: Tile) -> str:
    return tile.path.replace("tile/entries/", "entry bundle ").replace("tile/", "tile ")


def pin_path(state_dir: Path, origin: str) -> Path:
    """The file under ``state_dir`` where the pin for log ``origin`` lives (one file per origin)."""
    return state_dir / (urllib.parse.quote(origin, safe="") + ".checkpoint")
