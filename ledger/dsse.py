"""DSSE envelopes signed with Ed25519.

An envelope is ``{"payload": base64, "payloadType": str, "signatures": [{"keyid", "sig"}]}``
(DSSE v1 "envelope.md"); each signature is Ed25519 over the pre-authentication encoding
``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (DSSE v1
"protocol.md"). This module is stricter than DSSE requires, because a registry entry is
evidence: unknown fields, duplicate key IDs, signatures by keys the caller did not name and
any signature that fails all reject the envelope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger import b64
from ledger.errors import EnvelopeError, SignatureError
from ledger.keys import SignerKey, VerifierKey

MAX_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 pre-authentication encoding that signatures cover."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    """One DSSE signature: the signer's key ID and 64 signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: a typed payload and the signatures over it."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    @property
    def keyids(self) -> tuple[str, ...]:
        """The key IDs of the signatures, in envelope order."""
        return tuple(s.keyid for s in self.signatures)

    def to_json(self) -> dict[str, Any]:
        """Return the envelope as a JSON object (DSSE field names)."""
        return {
            "payload": b64.encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": b64.encode(s.sig)} for s in self.signatures],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Envelope:
        """Build an envelope from its JSON object; raise :class:`EnvelopeError` naming the field."""
        if not isinstance(obj, dict):
            raise EnvelopeError("envelope must be a JSON object")
        unknown = set(obj) - {"payload", "payloadType", "signatures"}
        if unknown:
            raise EnvelopeError(f"envelope has unknown field(s): {', '.join(sorted(unknown))}")
        payload_type = obj.get("payloadType")
        if not isinstance(payload_type, str) or not payload_type:
            raise EnvelopeError("envelope.payloadType must be a non-empty string")
        payload = _b64(obj.get("payload"), "envelope.payload")
        raw_sigs = obj.get("signatures")
        if not isinstance(raw_sigs, list) or not raw_sigs:
            raise EnvelopeError("envelope.signatures must be a non-empty list")
        if len(raw_sigs) > MAX_SIGNATURES:
            raise EnvelopeError(f"envelope.signatures holds more than {MAX_SIGNATURES} signatures")
        signatures = []
        for i, raw in enumerate(raw_sigs):
            where = f"envelope.signatures[{i}]"
            if not isinstance(raw, dict) or set(raw) != {"keyid", "sig"}:
                raise EnvelopeError(f"{where} must be an object with exactly keyid and sig")
            keyid = raw["keyid"]
            if not isinstance(keyid, str) or not keyid:
                raise EnvelopeError(f"{where}.keyid must be a non-empty string")
            sig = _b64(raw["sig"], f"{where}.sig")
            if len(sig) != 64:
                raise EnvelopeError(f"{where}.sig must be a 64-byte Ed25519 signature, got {len(sig)}")
            signatures.append(Signature(keyid, sig))
        keyids = [s.keyid for s in signatures]
        if len(set(keyids)) != len(keyids):
            raise EnvelopeError("envelope.signatures names the same keyid twice")
        return cls(payload_type, payload, tuple(signatures))


def sign(payload_type: str, payload: bytes, signers: Iterable[SignerKey]) -> Envelope:
    """Return an envelope over ``payload`` signed by every key in ``signers``."""
    message = pae(payload_type, payload)
    signatures = tuple(Signature(k.verifier.dsse_key_id, k.sign(message)) for k in signers)
    if not signatures:
        raise EnvelopeError("an envelope needs at least one signature")
    return Envelope(payload_type, payload, signatures)


def verify(envelope: Envelope, keys: Mapping[str, VerifierKey], *, threshold: int = 1) -> frozenset[str]:
    """Verify every signature of ``envelope`` against ``keys`` (keyid → key).

    Returns the key IDs whose signatures verified. Raises :class:`SignatureError` if a
    signature names a key not in ``keys``, if any signature fails, or if fewer than
    ``threshold`` signatures verified.
    """
    message = pae(envelope.payload_type, envelope.payload)
    verified: set[str] = set()
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            raise SignatureError(f"signature by unknown key {signature.keyid}")
        if not key.verify(signature.sig, message):
            raise SignatureError(f"signature by key {signature.keyid} does not verify")
        verified.add(signature.keyid)
    if len(verified) < threshold:
        raise SignatureError(f"{len(verified)} valid signature(s), {threshold} required")
    return frozenset(verified)


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"{where} must be a base64 string")
    try:
        return b64.decode(value)
    except ValueError as exc:
        raise EnvelopeError(f"{where} is not canonical base64: {exc}") from exc
