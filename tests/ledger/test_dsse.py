"""Tests for :mod:`ledger.dsse` (DSSE v1 envelopes) and :mod:`ledger.keys` (C2SP key encodings)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import canonical
from ledger.dsse import MAX_SIGNATURES, Envelope, Signature, pae, sign, verify
from ledger.errors import EnvelopeError, KeyFormatError, SignatureError
from ledger.keys import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    SignerKey,
    VerifierKey,
    check_key_name,
    dsse_key_id,
    note_key_id,
)

PAYLOAD_TYPE = "application/vnd.carbon-registry.statement+json"
PAYLOAD = b'{"kind":"issue","tonnes":12}'

# The example keys of golang.org/x/mod/sumdb/note (also in the shared signed-note vectors).
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"


def _key(name: str, fill: int) -> SignerKey:
    """A deterministic signer key (Ed25519 seeds are any 32 bytes)."""
    return SignerKey(name, bytes([fill]) * 32)


ALICE = _key("alice", 1)
BOB = _key("bob", 2)
CAROL = _key("carol", 3)


def _keys(*signers: SignerKey) -> dict[str, VerifierKey]:
    return {k.verifier.dsse_key_id: k.verifier for k in signers}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _envelope_json(**changes: Any) -> dict[str, Any]:
    obj = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE]).to_json()
    obj.update(changes)
    return obj


# --- PAE -------------------------------------------------------------------------------------


def test_pae_matches_the_dsse_v1_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_of_empty_type_and_payload() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_pae_lengths_count_utf8_bytes_not_characters() -> None:
    assert pae("tÿpe", b"\x00\xff") == b"DSSEv1 5 t\xc3\xbfpe 2 \x00\xff"


def test_pae_payload_with_spaces_and_digits_is_length_prefixed() -> None:
    assert pae("a b", b"1 2 3") == b"DSSEv1 3 a b 5 1 2 3"


# --- sign and verify -------------------------------------------------------------------------


def test_sign_with_one_key_and_verify() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE])
    assert envelope.payload_type == PAYLOAD_TYPE
    assert envelope.payload == PAYLOAD
    assert envelope.keyids == (ALICE.verifier.dsse_key_id,)
    assert verify(envelope, _keys(ALICE)) == frozenset({ALICE.verifier.dsse_key_id})


def test_signature_is_ed25519_over_pae_checked_independently() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE])
    public = Ed25519PublicKey.from_public_bytes(ALICE.verifier.public_key)
    public.verify(envelope.signatures[0].sig, pae(PAYLOAD_TYPE, PAYLOAD))  # raises if wrong
    assert len(envelope.signatures[0].sig) == 64


def test_sign_with_two_keys_and_verify_with_threshold_two() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, BOB])
    assert envelope.keyids == (ALICE.verifier.dsse_key_id, BOB.verifier.dsse_key_id)
    expected = frozenset({ALICE.verifier.dsse_key_id, BOB.verifier.dsse_key_id})
    assert verify(envelope, _keys(ALICE, BOB), threshold=2) == expected
    assert verify(envelope, _keys(ALICE, BOB, CAROL), threshold=1) == expected


def test_threshold_not_met() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, BOB])
    with pytest.raises(SignatureError, match=r"2 valid signature\(s\), 3 required"):
        verify(envelope, _keys(ALICE, BOB, CAROL), threshold=3)


def test_same_key_twice_counts_once_towards_the_threshold() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, ALICE])
    assert verify(envelope, _keys(ALICE)) == frozenset({ALICE.verifier.dsse_key_id})
    with pytest.raises(SignatureError, match=r"1 valid signature\(s\), 2 required"):
        verify(envelope, _keys(ALICE), threshold=2)


def test_sign_without_signers_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="at least one signature"):
        sign(PAYLOAD_TYPE, PAYLOAD, [])


def test_bad_signature_from_a_known_key_rejects() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, BOB])
    good, bad = envelope.signatures
    flipped = Signature(bad.keyid, bytes([bad.sig[0] ^ 1]) + bad.sig[1:])
    tampered = Envelope(envelope.payload_type, envelope.payload, (good, flipped))
    with pytest.raises(SignatureError, match=f"signature by key {bad.keyid} does not verify"):
        verify(tampered, _keys(ALICE, BOB), threshold=1)


def test_signature_by_an_unknown_keyid_rejects_even_if_the_threshold_is_met() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, CAROL])
    with pytest.raises(SignatureError, match=f"unknown key {CAROL.verifier.dsse_key_id}"):
        verify(envelope, _keys(ALICE, BOB), threshold=1)


def test_signature_checked_against_the_key_the_caller_names_for_the_keyid() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE])
    impostor = {ALICE.verifier.dsse_key_id: BOB.verifier}
    with pytest.raises(SignatureError, match="does not verify"):
        verify(envelope, impostor)


@pytest.mark.parametrize(
    ("payload_type", "payload"),
    [(PAYLOAD_TYPE, PAYLOAD + b" "), (PAYLOAD_TYPE + "x", PAYLOAD), ("application/json", PAYLOAD)],
)
def test_changed_payload_or_type_rejects(payload_type: str, payload: bytes) -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE])
    with pytest.raises(SignatureError, match="does not verify"):
        verify(Envelope(payload_type, payload, envelope.signatures), _keys(ALICE))


# --- JSON form -------------------------------------------------------------------------------


def test_to_json_has_exactly_the_dsse_fields() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE])
    assert envelope.to_json() == {
        "payload": _b64(PAYLOAD),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": ALICE.verifier.dsse_key_id, "sig": _b64(envelope.signatures[0].sig)}],
    }


def test_to_json_from_json_round_trip_through_canonical_bytes() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, BOB, CAROL])
    again = Envelope.from_json(canonical.decode(canonical.encode(envelope.to_json())))
    assert again == envelope
    assert verify(again, _keys(ALICE, BOB, CAROL), threshold=3)


def test_from_json_accepts_an_empty_payload() -> None:
    envelope = sign(PAYLOAD_TYPE, b"", [ALICE])
    assert Envelope.from_json(envelope.to_json()).payload == b""


@pytest.mark.parametrize("obj", [None, [], "envelope", 1])
def test_from_json_requires_an_object(obj: Any) -> None:
    with pytest.raises(EnvelopeError, match="must be a JSON object"):
        Envelope.from_json(obj)


def test_from_json_rejects_unknown_fields() -> None:
    with pytest.raises(EnvelopeError, match="unknown field\\(s\\): extra, zzz"):
        Envelope.from_json(_envelope_json(zzz=1, extra=True))


def test_from_json_rejects_missing_payload_type() -> None:
    obj = _envelope_json()
    del obj["payloadType"]
    with pytest.raises(EnvelopeError, match=re.escape("envelope.payloadType")):
        Envelope.from_json(obj)


@pytest.mark.parametrize("value", ["", 7, None, ["x"]])
def test_from_json_rejects_bad_payload_type(value: Any) -> None:
    with pytest.raises(EnvelopeError, match=re.escape("envelope.payloadType must be a non-empty string")):
        Envelope.from_json(_envelope_json(payloadType=value))


def test_from_json_rejects_missing_payload() -> None:
    obj = _envelope_json()
    del obj["payload"]
    with pytest.raises(EnvelopeError, match=re.escape("envelope.payload must be a base64 string")):
        Envelope.from_json(obj)


@pytest.mark.parametrize("value", ["not base64!", "YW Jj", "YWJ", "YWJj\n", "YW-_", 3])
def test_from_json_rejects_bad_payload_base64(value: Any) -> None:
    with pytest.raises(EnvelopeError, match=re.escape("envelope.payload")):
        Envelope.from_json(_envelope_json(payload=value))


@pytest.mark.parametrize("value", [None, [], {}, "sig"])
def test_from_json_rejects_missing_or_empty_signatures(value: Any) -> None:
    with pytest.raises(EnvelopeError, match=re.escape("envelope.signatures must be a non-empty list")):
        Envelope.from_json(_envelope_json(signatures=value))


def test_from_json_rejects_absent_signatures() -> None:
    obj = _envelope_json()
    del obj["signatures"]
    with pytest.raises(EnvelopeError, match=re.escape("envelope.signatures must be a non-empty list")):
        Envelope.from_json(obj)


def test_from_json_signature_count_limit() -> None:
    signers = [_key(f"k{i}", i + 10) for i in range(MAX_SIGNATURES + 1)]
    full = sign(PAYLOAD_TYPE, PAYLOAD, signers).to_json()
    at_limit = dict(full, signatures=full["signatures"][:MAX_SIGNATURES])
    assert len(Envelope.from_json(at_limit).signatures) == MAX_SIGNATURES
    with pytest.raises(EnvelopeError, match=f"more than {MAX_SIGNATURES} signatures"):
        Envelope.from_json(full)


@pytest.mark.parametrize(
    "raw",
    [
        "sig",
        {"keyid": "k"},
        {"sig": "AA=="},
        {"keyid": "k", "sig": "AA==", "extra": 1},
        {"keyId": "k", "sig": "AA=="},
    ],
)
def test_from_json_rejects_malformed_signature_objects(raw: Any) -> None:
    good = _envelope_json()["signatures"][0]
    with pytest.raises(EnvelopeError, match=r"envelope.signatures\[1\] must be an object with exactly keyid and sig"):
        Envelope.from_json(_envelope_json(signatures=[good, raw]))


@pytest.mark.parametrize("keyid", ["", 5, None])
def test_from_json_rejects_bad_keyid(keyid: Any) -> None:
    sig = _envelope_json()["signatures"][0]["sig"]
    with pytest.raises(EnvelopeError, match=r"envelope.signatures\[0\].keyid must be a non-empty string"):
        Envelope.from_json(_envelope_json(signatures=[{"keyid": keyid, "sig": sig}]))


@pytest.mark.parametrize("sig", ["%%%", "AAAA=", 64, None])
def test_from_json_rejects_bad_sig_base64(sig: Any) -> None:
    with pytest.raises(EnvelopeError, match=r"envelope.signatures\[0\].sig"):
        Envelope.from_json(_envelope_json(signatures=[{"keyid": "k", "sig": sig}]))


@pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
def test_from_json_rejects_wrong_signature_length(length: int) -> None:
    raw = {"keyid": "k", "sig": _b64(bytes(length))}
    with pytest.raises(EnvelopeError, match=rf"envelope.signatures\[0\].sig must be a 64-byte .* got {length}"):
        Envelope.from_json(_envelope_json(signatures=[raw]))


# Found while writing these tests: with validate=True, base64.b64decode still accepts '='
# padding after a complete 4-character group ("YWJj=" decodes to b"abc"), which Go's
# base64.StdEncoding rejects. So an envelope (and the log entry holding it) has more than one
# accepted text form, and Envelope.from_json(obj).to_json() != obj.


@pytest.mark.parametrize("payload", ["YWJj=", "YWJj===="])
def test_from_json_rejects_excess_base64_padding(payload: str) -> None:
    with pytest.raises(EnvelopeError, match=re.escape("envelope.payload")):
        Envelope.from_json(_envelope_json(payload=payload))


def test_from_json_rejects_duplicate_keyids() -> None:
    envelope = sign(PAYLOAD_TYPE, PAYLOAD, [ALICE, ALICE])
    with pytest.raises(EnvelopeError, match="same keyid twice"):
        Envelope.from_json(envelope.to_json())


# --- keys: text forms -------------------------------------------------------------------------


def _expected_key_id(name: str, alg: int, public_key: bytes) -> int:
    """C2SP signed-note: the first four bytes of SHA-256(name ‖ "\\n" ‖ alg ‖ public key)."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4], "big")


def test_go_example_keys_parse_and_reproduce() -> None:
    signer = SignerKey.parse(GO_SIGNER)
    verifier = VerifierKey.parse(GO_VERIFIER)
    assert signer.name == verifier.name == "PeterNeumann"
    assert signer.verifier == verifier
    assert verifier.key_id == 0xC74F20A3
    assert signer.text() == GO_SIGNER
    assert verifier.text() == GO_VERIFIER


@pytest.mark.parametrize("alg", [ALG_ED25519, ALG_COSIGNATURE_V1])
def test_key_id_follows_c2sp(alg: int) -> None:
    key = SignerKey("example.com/log", bytes(range(32)), alg)
    public = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().public_bytes_raw()
    assert key.verifier.public_key == public
    assert key.verifier.key_id == _expected_key_id("example.com/log", alg, public)
    assert note_key_id("example.com/log", alg, public) == key.verifier.key_id


def test_key_id_depends_on_name_and_type() -> None:
    public = ALICE.verifier.public_key
    ids = {note_key_id("alice", ALG_ED25519, public), note_key_id("alice2", ALG_ED25519, public)}
    ids.add(note_key_id("alice", ALG_COSIGNATURE_V1, public))
    assert len(ids) == 3


@pytest.mark.parametrize("alg", [ALG_ED25519, ALG_COSIGNATURE_V1])
def test_signer_and_verifier_text_round_trip(alg: int) -> None:
    key = SignerKey.generate("witness.example/w1", alg)
    text = key.text()
    hex_id = f"{_expected_key_id(key.name, alg, key.verifier.public_key):08x}"
    assert text == f"PRIVATE+KEY+witness.example/w1+{hex_id}+{_b64(bytes([alg]) + key.seed)}"
    assert SignerKey.parse(text) == key
    vtext = key.verifier.text()
    assert vtext == f"witness.example/w1+{hex_id}+{_b64(bytes([alg]) + key.verifier.public_key)}"
    assert VerifierKey.parse(vtext) == key.verifier
    assert VerifierKey.parse(vtext).alg == alg


def test_parse_ignores_surrounding_whitespace() -> None:
    assert VerifierKey.parse(f"  {GO_VERIFIER}\n") == VerifierKey.parse(GO_VERIFIER)
    assert SignerKey.parse(f"{GO_SIGNER}\n") == SignerKey.parse(GO_SIGNER)


def test_key_material_containing_plus_signs_parses() -> None:
    # Base64 key material may hold '+', which is also the field separator.
    key = next(k for k in (_key("k", i) for i in range(256)) if "+" in _b64(b"\x01" + k.verifier.public_key))
    assert "+" in key.verifier.text().split("+", 2)[2]
    assert VerifierKey.parse(key.verifier.text()) == key.verifier
    assert "+" in GO_SIGNER.split("+", 4)[4]
    assert SignerKey.parse(GO_SIGNER).name == "PeterNeumann"


def test_generate_makes_distinct_keys() -> None:
    assert SignerKey.generate("a").seed != SignerKey.generate("a").seed


def test_dsse_key_id_is_derived_from_the_public_key_alone() -> None:
    public = ALICE.verifier.public_key
    assert dsse_key_id(public) == hashlib.sha256(public).hexdigest()[:32]
    assert SignerKey("renamed", ALICE.seed).verifier.dsse_key_id == ALICE.verifier.dsse_key_id
    assert len(ALICE.verifier.dsse_key_id) == 32


def test_verifier_verify_returns_bool() -> None:
    signature = ALICE.sign(b"message")
    assert ALICE.verifier.verify(signature, b"message") is True
    assert ALICE.verifier.verify(signature, b"message!") is False
    assert BOB.verifier.verify(signature, b"message") is False


# --- keys: rejections -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a+b", "a b", "tab\tname", "nbsp\u00a0name", "line\n", "+", " "])
def test_bad_key_names_are_rejected(name: str) -> None:
    with pytest.raises(KeyFormatError, match="must be non-empty, without spaces or '\\+'"):
        check_key_name(name)
    with pytest.raises(KeyFormatError):
        SignerKey(name, bytes(32))
    with pytest.raises(KeyFormatError):
        VerifierKey(name, ALICE.verifier.public_key)


def test_good_key_names_are_accepted() -> None:
    for name in ("a", "example.com/log", "sum.golang.org", "ünïcode-name_1"):
        check_key_name(name)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_raw_key_lengths_are_rejected(length: int) -> None:
    with pytest.raises(KeyFormatError, match=f"must be 32 bytes, got {length}"):
        SignerKey("k", bytes(length))
    with pytest.raises(KeyFormatError, match=f"must be 32 bytes, got {length}"):
        VerifierKey("k", bytes(length))


def _verifier_text(name: str, hex_id: str, material: bytes) -> str:
    return f"{name}+{hex_id}+{_b64(material)}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "ID c74f20a4 does not match"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "invalid base64"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!", "invalid base64"),
        ("PeterNeumann+c74f20a3", "name\\+hexid\\+base64"),
        ("PeterNeumann", "name\\+hexid\\+base64"),
        ("", "name\\+hexid\\+base64"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "without spaces"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "non-empty"),
        (_verifier_text("k", "00000000", b"\x01" + bytes(31)), "type 0x01 or 0x04"),
        (_verifier_text("k", "00000000", b"\x01" + bytes(33)), "type 0x01 or 0x04"),
        (_verifier_text("k", "00000000", b"\x02" + bytes(32)), "type 0x01 or 0x04"),
        (_verifier_text("k", "00000000", bytes(32)), "type 0x01 or 0x04"),
    ],
)
def test_verifier_key_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(KeyFormatError, match=problem):
        VerifierKey.parse(text)


def test_verifier_key_parse_rejects_a_name_with_plus_as_a_key_id_mismatch() -> None:
    # With '+' in the name the fields shift, so the "key ID" read is part of the name.
    key = ALICE.verifier
    with pytest.raises(KeyFormatError):
        VerifierKey.parse(_verifier_text("ali+ce", f"{key.key_id:08x}", bytes([ALG_ED25519]) + key.public_key))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GO_SIGNER.replace("c74f20a3", "c74f20a2"), "signer key ID c74f20a2 does not match"),
        (GO_SIGNER.replace("PRIVATE+KEY", "PRIVATE+KEYS"), "PRIVATE\\+KEY\\+name"),
        (GO_SIGNER.replace("PRIVATE+KEY+", ""), "PRIVATE\\+KEY\\+name"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a3", "PRIVATE\\+KEY\\+name"),
        (GO_SIGNER[:-1], "invalid base64"),
        (GO_SIGNER + "A", "invalid base64"),
        (GO_SIGNER.replace("PeterNeumann", "Peter Neumann"), "without spaces"),
        (GO_VERIFIER, "PRIVATE\\+KEY\\+name"),
        ("PRIVATE+KEY+" + _verifier_text("k", "00000000", bytes([1]) + bytes(31)), "type 0x01 or 0x04"),
        ("PRIVATE+KEY+" + _verifier_text("k", "00000000", bytes([3]) + bytes(32)), "type 0x01 or 0x04"),
    ],
)
def test_signer_key_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(KeyFormatError, match=problem):
        SignerKey.parse(text)


def test_signer_key_id_is_checked_for_the_key_type() -> None:
    # The same seed written with type 0x04 but the 0x01 key ID must not parse.
    text = GO_SIGNER.replace("+AYEK", "+BIEK")  # 0x01 → 0x04 in the first base64 byte
    assert base64.b64decode(text.split("+", 4)[4])[0] == ALG_COSIGNATURE_V1
    with pytest.raises(KeyFormatError, match="does not match"):
        SignerKey.parse(text)
