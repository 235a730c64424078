"""Ed25519 keys in the C2SP signed-note text encodings.

A signer key is ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`` and a verifier
key (vkey) is ``<name>+<hex key id>+<base64(0x01 ‖ public key)>`` (C2SP signed-note §
"Verifier keys"); the key ID is the first four bytes of
``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)``. The same files hold the keys of accounts
that sign DSSE envelopes; their DSSE ``keyid`` is derived from the public key alone
(:func:`dsse_key_id`), so renaming a key file never changes what it signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import KeyFormatError

ALG_ED25519 = 0x01
"""Signature type of an Ed25519 note signature (C2SP signed-note)."""

ALG_COSIGNATURE_V1 = 0x04
"""Signature type of an Ed25519 timestamped cosignature (C2SP tlog-cosignature)."""


def note_key_id(name: str, alg: int, public_key: bytes) -> int:
    """Return the 32-bit signed-note key ID of ``public_key`` under ``name`` and ``alg``."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def dsse_key_id(public_key: bytes) -> str:
    """Return the DSSE ``keyid`` of an Ed25519 public key: hex of SHA-256(key)[:16]."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def check_key_name(name: str) -> None:
    """Raise :class:`KeyFormatError` unless ``name`` is a valid signed-note key name.

    Names are non-empty, and contain no Unicode spaces and no plus signs (C2SP signed-note).
    """
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise KeyFormatError(f"key name {name!r} must be non-empty, without spaces or '+'")


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """Return the 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key with its signed-note key ID."""

    name: str
    public_key: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise KeyFormatError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")

    @property
    def key_id(self) -> int:
        """The 32-bit key ID that prefixes this key's note signatures."""
        return note_key_id(self.name, self.alg, self.public_key)

    @property
    def dsse_key_id(self) -> str:
        """The ``keyid`` this key writes into DSSE signatures."""
        return dsse_key_id(self.public_key)

    def text(self) -> str:
        """Return the vkey text ``name+hexid+base64(alg ‖ key)``."""
        material = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{material}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Return whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse vkey text; raise :class:`KeyFormatError` naming what is wrong."""
        # The base64 key material may itself contain '+': split only the first two.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError("verifier key must be name+hexid+base64")
        name, hex_id, material = parts
        raw = _b64(material, "verifier key")
        if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise KeyFormatError("verifier key must hold an Ed25519 key (type 0x01 or 0x04)")
        key = cls(name=name, public_key=raw[1:], alg=raw[0])
        if hex_id != f"{key.key_id:08x}":
            raise KeyFormatError(f"verifier key ID {hex_id} does not match its key ({key.key_id:08x})")
        return key


@dataclass(frozen=True)
class SignerKey:
    """A named Ed25519 private key."""

    name: str
    seed: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise KeyFormatError(f"Ed25519 seed must be 32 bytes, got {len(self.seed)}")

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> SignerKey:
        """Return a fresh random key."""
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name=name, seed=seed, alg=alg)

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> VerifierKey:
        """The public half of this key."""
        return VerifierKey(self.name, raw_public_key(self.private_key.public_key()), self.alg)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)

    def text(self) -> str:
        """Return ``PRIVATE+KEY+name+hexid+base64(alg ‖ seed)``."""
        material = base64.b64encode(bytes([self.alg]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{material}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """Parse signer key text; raise :class:`KeyFormatError` naming what is wrong."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("signer key must be PRIVATE+KEY+name+hexid+base64")
        _, _, name, hex_id, material = parts
        raw = _b64(material, "signer key")
        if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise KeyFormatError("signer key must hold an Ed25519 seed (type 0x01 or 0x04)")
        key = cls(name=name, seed=raw[1:], alg=raw[0])
        if hex_id != f"{key.verifier.key_id:08x}":
            raise KeyFormatError(f"signer key ID {hex_id} does not match its key")
        return key


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"{what}: invalid base64") from exc
