"""C2SP tlog-checkpoint: the signed head of the log.

The body is three lines, ``<origin>``, ``<tree size>`` (decimal, no leading zeroes) and
``<base64 root hash>``, then optional non-empty extension lines; it travels as the text of
a signed note, signed by the log's Ed25519 key and, optionally, co-signed by witnesses.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.errors import CheckpointError, NoteError
from ledger.keys import SignerKey, VerifierKey
from ledger.merkle import HASH_SIZE
from ledger.note import Note, VerifiedNote, open_note, sign

_SIZE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its RFC 9162 root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """Return the checkpoint's note text."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body; raise :class:`CheckpointError` naming the bad line."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint needs origin, size and root lines")
        origin, size, root_b64, *extensions = lines
        if not origin:
            raise CheckpointError("checkpoint origin line is empty")
        if not _SIZE.fullmatch(size) or int(size) >= 1 << 63:
            raise CheckpointError(f"checkpoint size {size!r} is not a decimal without leading zeroes")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError("checkpoint root is not valid base64") from exc
        if len(root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root must be {HASH_SIZE} bytes, got {len(root)}")
        if any(not line for line in extensions):
            raise CheckpointError("checkpoint extension lines must not be empty")
        return cls(origin, int(size), root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint verified against the log key, with the witnesses that co-signed it."""

    checkpoint: Checkpoint
    note: Note
    cosigners: tuple[VerifierKey, ...]

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root

    def encode(self) -> str:
        return self.note.encode()


def sign_checkpoint(checkpoint: Checkpoint, log_key: SignerKey) -> SignedCheckpoint:
    """Return ``checkpoint`` signed by the log's key (whose name must be the origin)."""
    if log_key.name != checkpoint.origin:
        raise CheckpointError(f"log key {log_key.name!r} cannot sign for origin {checkpoint.origin!r}")
    return SignedCheckpoint(checkpoint, sign(checkpoint.body(), [log_key]), ())


def open_checkpoint(
    note: str | bytes | Note,
    log_key: VerifierKey,
    *,
    witnesses: Iterable[VerifierKey] = (),
    quorum: int = 0,
) -> SignedCheckpoint:
    """Verify a checkpoint note: the log's signature, its origin and a witness quorum.

    Raises :class:`CheckpointError` if the log did not sign it, if the origin is not the log
    key's name, or if fewer than ``quorum`` of ``witnesses`` co-signed it.
    """
    witness_keys = tuple(witnesses)
    try:
        verified: VerifiedNote = open_note(note, (log_key, *witness_keys))
    except NoteError as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from exc
    if log_key not in verified.verified_by:
        raise CheckpointError("checkpoint is not signed by the log key")
    checkpoint = Checkpoint.parse(verified.text)
    if checkpoint.origin != log_key.name:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not the log {log_key.name!r}")
    cosigners = tuple(k for k in verified.verified_by if k in witness_keys)
    if len(cosigners) < quorum:
        raise CheckpointError(f"checkpoint has {len(cosigners)} witness cosignature(s), {quorum} required")
    return SignedCheckpoint(checkpoint, verified.note, cosigners)
