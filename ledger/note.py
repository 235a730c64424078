"""C2SP signed notes: text followed by one or more signature lines.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(32-bit key ID ‖ signature)``. A verifier is configured with the keys it
trusts; lines by other keys are ignored, a line by a trusted key that does not verify rejects
the note, and a note with no valid line by a trusted key is rejected (C2SP signed-note §
"Verifying").

Two signature types are supported: Ed25519 over the note text (type 0x01) and the
tlog-cosignature/v1 timestamped Ed25519 cosignature of a checkpoint (type 0x04).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.errors import NoteError
from ledger.keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey

MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, its key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text (ending in a newline) and every signature line, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        """Return the note in its wire form."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """Return this note with ``extra`` signature lines appended (duplicates dropped)."""
        seen = set(self.signatures)
        added = []
        for signature in extra:
            if signature not in seen:
                seen.add(signature)
                added.append(signature)
        return Note(self.text, self.signatures + tuple(added))


def check_text(text: str) -> None:
    """Raise :class:`NoteError` unless ``text`` can be the text of a note.

    It must end in a newline and hold no control characters other than newline.
    """
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    for ch in text:
        if (ord(ch) < 0x20 and ch != "\n") or ord(ch) == 0x7F:
            raise NoteError(f"note text holds control character U+{ord(ch):04X}")


def parse(note: str | bytes) -> Note:
    """Split a note into text and signature lines; raise :class:`NoteError` if malformed."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not valid UTF-8") from exc
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line between text and signatures")
    text, block = note[: split + 1], note[split + 2 :]
    check_text(text)
    if not block.endswith("\n"):
        raise NoteError("note signatures must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} does not start with '— '")
        name, sep, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep or not name or " " in blob or "+" in name:
            raise NoteError(f"signature line {number} is not '— <name> <base64>'")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"signature line {number} has invalid base64") from exc
        if len(raw) < 5:
            raise NoteError(f"signature line {number} is too short")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(signatures))


def cosigned_message(text: str, timestamp: int) -> bytes:
    """tlog-cosignature/v1 § "Ed25519 signed message": header, time line, checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _signature_valid(key: VerifierKey, text: str, signature: bytes) -> bool:
    if key.alg == ALG_ED25519:
        return len(signature) == 64 and key.verify(signature, text.encode())
    if key.alg == ALG_COSIGNATURE_V1:
        if len(signature) != 72:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp >= 1 << 63:
            return False
        return key.verify(signature[8:], cosigned_message(text, timestamp))
    return False


def sign(text: str, signers: Sequence[SignerKey], *, timestamp: int | None = None) -> Note:
    """Return a note of ``text`` signed by each key (cosigner keys need ``timestamp``)."""
    check_text(text)
    signatures = []
    for key in signers:
        vkey = key.verifier
        if key.alg == ALG_ED25519:
            sig = key.sign(text.encode())
        elif key.alg == ALG_COSIGNATURE_V1:
            if timestamp is None:
                raise NoteError("a cosignature needs a timestamp")
            sig = timestamp.to_bytes(8, "big") + key.sign(cosigned_message(text, timestamp))
        else:
            raise NoteError(f"unsupported signature type {key.alg:#04x}")
        signatures.append(NoteSignature(key.name, vkey.key_id, sig))
    return Note(text, tuple(signatures))


@dataclass(frozen=True)
class VerifiedNote:
    """A note and the trusted keys whose signatures on it verified."""

    note: Note
    verified_by: tuple[VerifierKey, ...]

    @property
    def text(self) -> str:
        return self.note.text


def open_note(note: str | bytes | Note, keys: Iterable[VerifierKey]) -> VerifiedNote:
    """Verify ``note`` against the trusted ``keys`` and return it with the keys that signed it.

    Signature lines by keys not in ``keys`` are ignored. Raises :class:`NoteError` if the
    note is malformed, if a trusted key's signature does not verify or appears twice, or if
    no trusted key signed it.
    """
    parsed = note if isinstance(note, Note) else parse(note)
    trusted = {(k.name, k.key_id): k for k in keys}
    verified: list[VerifierKey] = []
    for sig in parsed.signatures:
        key = trusted.get((sig.name, sig.key_id))
        if key is None:
            continue
        if key in verified:
            raise NoteError(f"note carries two signatures by key {sig.name}+{sig.key_id:08x}")
        if not _signature_valid(key, parsed.text, sig.signature):
            raise NoteError(f"signature by {sig.name}+{sig.key_id:08x} does not verify")
        verified.append(key)
    if not verified:
        raise NoteError("note is not signed by any trusted key")
    return VerifiedNote(parsed, tuple(verified))
