"""Tests for :mod:`ledger.note` (C2SP signed notes, tlog-cosignature/v1) and :mod:`ledger.checkpoint`."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import note
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import CheckpointError, NoteError
from ledger.keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey
from ledger.note import MAX_SIGNATURES, Note, NoteSignature, cosigned_message, open_note, parse

ORIGIN = "example.com/registry"
LOG = SignerKey(ORIGIN, bytes([7]) * 32)
OTHER = SignerKey("other.example/key", bytes([8]) * 32)
W1 = SignerKey("witness.example/w1", bytes([9]) * 32, ALG_COSIGNATURE_V1)
W2 = SignerKey("witness.example/w2", bytes([10]) * 32, ALG_COSIGNATURE_V1)
W3 = SignerKey("witness.example/w3", bytes([11]) * 32, ALG_COSIGNATURE_V1)
T = 1_700_000_000
ROOT = hashlib.sha256(b"some root").digest()
TEXT = "A note for testing.\nSecond line: ünïcode — fine.\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _line(name: str, key_id: int, signature: bytes) -> str:
    return f"— {name} {_b64(key_id.to_bytes(4, 'big') + signature)}\n"


def _checkpoint(size: int = 5, origin: str = ORIGIN) -> Checkpoint:
    return Checkpoint(origin, size, ROOT)


def _cosign(checkpoint: Checkpoint, *witnesses: SignerKey, timestamp: int = T) -> tuple[NoteSignature, ...]:
    return note.sign(checkpoint.body(), list(witnesses), timestamp=timestamp).signatures


def _witnessed(checkpoint: Checkpoint, *witnesses: SignerKey) -> Note:
    return sign_checkpoint(checkpoint, LOG).note.with_signatures(_cosign(checkpoint, *witnesses))


# --- signed notes: signing and opening ----------------------------------------------------


def test_sign_produces_the_c2sp_wire_form() -> None:
    signed = note.sign(TEXT, [LOG])
    signature = LOG.sign(TEXT.encode())
    assert signed.encode() == TEXT + "\n" + _line(ORIGIN, LOG.verifier.key_id, signature)
    assert signed.signatures == (NoteSignature(ORIGIN, LOG.verifier.key_id, signature),)


def test_signature_line_holds_the_key_id_and_an_ed25519_signature_of_the_text() -> None:
    wire = note.sign(TEXT, [LOG]).encode()
    line = wire.rsplit("\n\n", 1)[1]
    assert line.startswith("\u2014 " + ORIGIN + " ")
    raw = base64.b64decode(line.split(" ")[2])
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG.verifier.public_key).digest()[:4]
    assert raw[:4] == expected_id
    Ed25519PublicKey.from_public_bytes(LOG.verifier.public_key).verify(raw[4:], TEXT.encode())


def test_sign_and_open_round_trip_for_str_bytes_and_note() -> None:
    signed = note.sign(TEXT, [LOG, OTHER])
    for form in (signed.encode(), signed.encode().encode(), signed):
        verified = open_note(form, [LOG.verifier])
        assert verified.text == TEXT
        assert verified.verified_by == (LOG.verifier,)
        assert verified.note == signed
    both = open_note(signed.encode(), [OTHER.verifier, LOG.verifier])
    assert both.verified_by == (LOG.verifier, OTHER.verifier)  # signature order, not key order


def test_parse_encode_round_trip() -> None:
    signed = note.sign(TEXT, [LOG, OTHER])
    assert parse(signed.encode()) == signed
    assert parse(signed.encode()).encode() == signed.encode()


def test_tampered_text_rejects() -> None:
    wire = note.sign(TEXT, [LOG]).encode()
    with pytest.raises(NoteError, match=re.escape(f"signature by {ORIGIN}+{LOG.verifier.key_id:08x} does not verify")):
        open_note(wire.replace("testing", "Testing"), [LOG.verifier])


def test_tampered_signature_rejects() -> None:
    signed = note.sign(TEXT, [LOG])
    sig = signed.signatures[0]
    bad = Note(TEXT, (NoteSignature(sig.name, sig.key_id, bytes([sig.signature[0] ^ 0x80]) + sig.signature[1:]),))
    with pytest.raises(NoteError, match="does not verify"):
        open_note(bad.encode(), [LOG.verifier])


def test_unknown_key_only_rejects() -> None:
    wire = note.sign(TEXT, [OTHER]).encode()
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(wire, [LOG.verifier])


def test_no_trusted_keys_rejects() -> None:
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(note.sign(TEXT, [LOG]).encode(), [])


def test_lines_by_unknown_keys_are_ignored_even_if_they_do_not_verify() -> None:
    garbage = NoteSignature("stranger", 0x01020304, b"not a signature")
    signed = note.sign(TEXT, [LOG]).with_signatures([garbage])
    assert open_note(signed.encode(), [LOG.verifier]).verified_by == (LOG.verifier,)


def test_trusted_name_with_another_key_id_is_treated_as_unknown() -> None:
    impostor = SignerKey(ORIGIN, bytes([99]) * 32)  # same name, different key
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(note.sign(TEXT, [impostor]).encode(), [LOG.verifier])


def test_trusted_key_id_under_another_name_is_treated_as_unknown() -> None:
    sig = note.sign(TEXT, [LOG]).signatures[0]
    renamed = Note(TEXT, (NoteSignature("renamed", sig.key_id, sig.signature),))
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(renamed.encode(), [LOG.verifier])


def test_two_identical_signatures_by_the_same_trusted_key_reject() -> None:
    signed = note.sign(TEXT, [LOG])
    doubled = signed.encode() + signed.signatures[0].line()
    with pytest.raises(NoteError, match=re.escape(f"two signatures by key {ORIGIN}+{LOG.verifier.key_id:08x}")):
        open_note(doubled, [LOG.verifier])


def test_two_different_valid_signatures_by_the_same_trusted_key_reject() -> None:
    body = _checkpoint().body()
    first = note.sign(body, [W1], timestamp=T)
    second = note.sign(body, [W1], timestamp=T + 1)
    assert first.signatures != second.signatures
    combined = Note(body, first.signatures + second.signatures)
    with pytest.raises(NoteError, match="two signatures by key"):
        open_note(combined, [W1.verifier])


def test_with_signatures_appends_and_drops_lines_already_present() -> None:
    a = note.sign(TEXT, [LOG])
    b = note.sign(TEXT, [OTHER])
    combined = a.with_signatures(a.signatures + b.signatures + a.signatures)
    assert combined.text == TEXT
    assert combined.signatures == a.signatures + b.signatures
    assert combined.with_signatures(b.signatures) == combined


def test_with_signatures_drops_duplicates_within_the_extra_lines() -> None:
    # Docstring: "appended (duplicates dropped)". The same cosignature collected twice is kept
    # twice, and open_note then rejects the whole note ("two signatures by key ...").
    a = note.sign(TEXT, [LOG])
    b = note.sign(TEXT, [OTHER])
    assert a.with_signatures(b.signatures + b.signatures).signatures == a.signatures + b.signatures


def test_wrong_length_signature_by_a_trusted_key_rejects() -> None:
    short = Note(TEXT, (NoteSignature(ORIGIN, LOG.verifier.key_id, b"\x00"),))
    with pytest.raises(NoteError, match="does not verify"):
        open_note(short.encode(), [LOG.verifier])


def test_sign_refuses_text_without_final_newline() -> None:
    with pytest.raises(NoteError, match="must end with a newline"):
        note.sign("no newline", [LOG])


@pytest.mark.parametrize("ch", ["\t", "\r", "\x00", "\x1b", "\x7f"])
def test_sign_refuses_control_characters(ch: str) -> None:
    with pytest.raises(NoteError, match=f"control character U\\+{ord(ch):04X}"):
        note.sign(f"a{ch}b\n", [LOG])


def test_cosigner_key_needs_a_timestamp() -> None:
    with pytest.raises(NoteError, match="needs a timestamp"):
        note.sign(TEXT, [W1])


def test_unsupported_key_type_cannot_sign() -> None:
    with pytest.raises(NoteError, match="unsupported signature type 0x02"):
        note.sign(TEXT, [SignerKey("k", bytes(32), 0x02)])


# --- signed notes: malformed wire forms ----------------------------------------------------

_SIG = _line(ORIGIN, LOG.verifier.key_id, LOG.sign(TEXT.encode()))


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (TEXT + _SIG, "no blank line"),
        ("", "no blank line"),
        (TEXT + "\n", "signatures must end with a newline"),
        (TEXT + "\n" + _SIG[:-1], "signatures must end with a newline"),
        (TEXT + "\n" + _SIG.replace("— ", "- "), "line 1 does not start with '— '"),
        (TEXT + "\n" + _SIG.replace("— ", "—"), "line 1 does not start with '— '"),
        (TEXT + "\n" + _SIG.replace("— ", "-- "), "line 1 does not start with '— '"),
        (TEXT + "\n" + _SIG + "x\n", "line 2 does not start with '— '"),
        (TEXT + "\n" + _SIG + _SIG.replace("— ", " — "), "line 2 does not start"),
        (TEXT + "\n" + _SIG.replace(f"{ORIGIN} ", ""), "line 1 is not '— <name> <base64>'"),
        (TEXT + "\n" + _SIG.replace(f"{ORIGIN} ", " "), "line 1 is not '— <name> <base64>'"),
        (TEXT + "\n" + _SIG.replace(ORIGIN, "a+b"), "line 1 is not '— <name> <base64>'"),
        (TEXT + "\n" + _SIG.replace("\n", " x\n"), "line 1 is not '— <name> <base64>'"),
        (TEXT + "\n" + _SIG.replace("\n", "!\n"), "line 1 has invalid base64"),
        (TEXT + "\n" + _SIG.replace("\n", "A\n"), "line 1 has invalid base64"),
        (TEXT + "\n" + _SIG.replace(f"{ORIGIN} ", f"{ORIGIN} %"), "line 1 has invalid base64"),
        (TEXT + "\n" + f"— {ORIGIN} AAAAAA==\n", "line 1 is too short"),
        ("a\tb\n\n" + _SIG, "control character U\\+0009"),
        ("a\rb\n\n" + _SIG, "control character U\\+000D"),
        ("a\x00\n\n" + _SIG, "control character U\\+0000"),
        ("a\x7f\n\n" + _SIG, "control character U\\+007F"),
    ],
)
def test_malformed_notes_raise_note_error(wire: str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        parse(wire)
    with pytest.raises(NoteError, match=problem):
        open_note(wire, [LOG.verifier])


def test_invalid_utf8_raises_note_error() -> None:
    with pytest.raises(NoteError, match="not valid UTF-8"):
        parse(TEXT.encode() + b"\xff\n\n" + _SIG.encode())


def test_signature_count_limit() -> None:
    other = _line("other", 1, bytes(64))
    at_limit = TEXT + "\n" + _SIG + other * (MAX_SIGNATURES - 1)
    assert len(parse(at_limit).signatures) == MAX_SIGNATURES
    assert open_note(at_limit, [LOG.verifier]).verified_by == (LOG.verifier,)
    with pytest.raises(NoteError, match=f"more than {MAX_SIGNATURES} signatures"):
        parse(at_limit + other)


def test_blank_lines_in_the_text_split_at_the_last_blank_line() -> None:
    text = "first\n\nsecond\n"
    signed = note.sign(text, [LOG])
    assert parse(signed.encode()).text == text
    assert open_note(signed.encode(), [LOG.verifier]).text == text


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_body_format_is_exact() -> None:
    assert _checkpoint().body() == f"{ORIGIN}\n5\n{_b64(ROOT)}\n"
    with_ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    assert with_ext.body() == f"{ORIGIN}\n0\n{_b64(ROOT)}\next one\next two\n"


@pytest.mark.parametrize("size", [0, 1, 10, 2**63 - 1])
def test_checkpoint_parse_round_trip(size: int) -> None:
    cp = Checkpoint(ORIGIN, size, ROOT, ("— extension",))
    assert Checkpoint.parse(cp.body()) == cp


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"{ORIGIN}\n5\n{_b64(ROOT)}", "must end with a newline"),
        (f"{ORIGIN}\n5\n", "needs origin, size and root lines"),
        ("", "must end with a newline"),
        (f"\n5\n{_b64(ROOT)}\n", "origin line is empty"),
        (f"{ORIGIN}\n05\n{_b64(ROOT)}\n", "size '05' is not a decimal without leading zeroes"),
        (f"{ORIGIN}\n00\n{_b64(ROOT)}\n", "size '00'"),
        (f"{ORIGIN}\n-1\n{_b64(ROOT)}\n", "size '-1'"),
        (f"{ORIGIN}\n+5\n{_b64(ROOT)}\n", "size '\\+5'"),
        (f"{ORIGIN}\n 5\n{_b64(ROOT)}\n", "size ' 5'"),
        (f"{ORIGIN}\n5 \n{_b64(ROOT)}\n", "size '5 '"),
        (f"{ORIGIN}\n\n{_b64(ROOT)}\n", "size ''"),
        (f"{ORIGIN}\n0x5\n{_b64(ROOT)}\n", "size '0x5'"),
        (f"{ORIGIN}\n1_0\n{_b64(ROOT)}\n", "size '1_0'"),
        (f"{ORIGIN}\n{2**63}\n{_b64(ROOT)}\n", f"size '{2**63}'"),
        (f"{ORIGIN}\n5\n{_b64(ROOT[:31])}\n", "root must be 32 bytes, got 31"),
        (f"{ORIGIN}\n5\n{_b64(ROOT + b'x')}\n", "root must be 32 bytes, got 33"),
        (f"{ORIGIN}\n5\n\n", "root must be 32 bytes, got 0"),
        (f"{ORIGIN}\n5\n{_b64(ROOT)[:-1]}\n", "root is not valid base64"),
        (f"{ORIGIN}\n5\n{_b64(ROOT).replace('=', '!')}\n", "root is not valid base64"),
        (f"{ORIGIN}\n5\n{_b64(ROOT)}\n\n", "extension lines must not be empty"),
        (f"{ORIGIN}\n5\n{_b64(ROOT)}\next\n\nmore\n", "extension lines must not be empty"),
    ],
)
def test_checkpoint_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(CheckpointError, match=problem):
        Checkpoint.parse(text)


def test_checkpoint_size_must_be_ascii_digits() -> None:
    # "1" followed by ARABIC-INDIC DIGIT THREE: int() reads it as 13.
    with pytest.raises(CheckpointError):
        Checkpoint.parse(f"{ORIGIN}\n1\u0663\n{_b64(ROOT)}\n")


def test_sign_checkpoint_and_open() -> None:
    cp = _checkpoint()
    signed = sign_checkpoint(cp, LOG)
    assert signed.note.text == cp.body()
    assert signed.cosigners == ()
    assert signed.encode() == note.sign(cp.body(), [LOG]).encode()
    opened = open_checkpoint(signed.encode(), LOG.verifier)
    assert opened.checkpoint == cp
    assert (opened.size, opened.root) == (5, ROOT)
    assert opened.cosigners == ()
    assert open_checkpoint(signed.encode().encode(), LOG.verifier).checkpoint == cp
    assert open_checkpoint(signed.note, LOG.verifier).checkpoint == cp


def test_sign_checkpoint_requires_the_key_to_be_named_for_the_origin() -> None:
    with pytest.raises(CheckpointError, match="cannot sign for origin"):
        sign_checkpoint(_checkpoint(origin="another.example/log"), LOG)


def test_open_checkpoint_checks_origin_is_the_key_name() -> None:
    body = _checkpoint(origin="another.example/log").body()
    wire = note.sign(body, [LOG]).encode()  # validly signed by the log key, but for another origin
    expected = "checkpoint origin 'another.example/log' is not the log 'example.com/registry'"
    with pytest.raises(CheckpointError, match=re.escape(expected)):
        open_checkpoint(wire, LOG.verifier)


def test_open_checkpoint_rejects_a_checkpoint_signed_by_another_key() -> None:
    impostor = SignerKey(ORIGIN, bytes([42]) * 32)
    wire = sign_checkpoint(_checkpoint(), impostor).encode()
    with pytest.raises(CheckpointError, match="checkpoint signature: note is not signed by any trusted key"):
        open_checkpoint(wire, LOG.verifier)


def test_open_checkpoint_rejects_one_signed_only_by_a_witness() -> None:
    cp = _checkpoint()
    only_witness = Note(cp.body(), _cosign(cp, W1))
    with pytest.raises(CheckpointError, match="not signed by the log key"):
        open_checkpoint(only_witness, LOG.verifier, witnesses=[W1.verifier])


def test_open_checkpoint_wraps_note_errors() -> None:
    with pytest.raises(CheckpointError, match="checkpoint signature: note has no blank line"):
        open_checkpoint(_checkpoint().body(), LOG.verifier)


def test_open_checkpoint_rejects_a_malformed_but_signed_body() -> None:
    wire = note.sign(f"{ORIGIN}\n05\n{_b64(ROOT)}\n", [LOG]).encode()
    with pytest.raises(CheckpointError, match="leading zeroes"):
        open_checkpoint(wire, LOG.verifier)


# --- tlog-cosignature/v1 witness cosignatures ------------------------------------------------


def test_cosigned_message_format() -> None:
    body = _checkpoint().body()
    assert cosigned_message(body, T) == b"cosignature/v1\ntime 1700000000\n" + body.encode()


def test_cosignature_line_checked_independently() -> None:
    body = _checkpoint().body()
    line = note.sign(body, [W1], timestamp=T).encode().rsplit("\n\n", 1)[1]
    prefix, name, blob = line.rstrip("\n").split(" ")
    assert (prefix, name) == ("\u2014", W1.name)
    raw = base64.b64decode(blob, validate=True)
    assert len(raw) == 4 + 8 + 64
    public = W1.verifier.public_key
    assert raw[:4] == hashlib.sha256(W1.name.encode() + b"\n\x04" + public).digest()[:4]
    assert raw[4:12] == T.to_bytes(8, "big")
    message = b"cosignature/v1\ntime " + str(T).encode() + b"\n" + body.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if the format differs


def test_witness_quorum_of_two_passes_with_both_cosignatures() -> None:
    cp = _checkpoint()
    wire = _witnessed(cp, W1, W2).encode()
    opened = open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier, W2.verifier], quorum=2)
    assert opened.checkpoint == cp
    assert opened.cosigners == (W1.verifier, W2.verifier)


def test_cosignatures_by_separate_notes_combine() -> None:
    cp = _checkpoint()
    log_note = sign_checkpoint(cp, LOG).note
    combined = log_note.with_signatures(_cosign(cp, W2, timestamp=T + 5)).with_signatures(_cosign(cp, W1))
    opened = open_checkpoint(combined.encode(), LOG.verifier, witnesses=[W1.verifier, W2.verifier], quorum=2)
    assert opened.cosigners == (W2.verifier, W1.verifier)


def test_witness_quorum_of_two_fails_with_one_cosignature() -> None:
    wire = _witnessed(_checkpoint(), W1).encode()
    witnesses = [W1.verifier, W2.verifier]
    with pytest.raises(CheckpointError, match=r"1 witness cosignature\(s\), 2 required"):
        open_checkpoint(wire, LOG.verifier, witnesses=witnesses, quorum=2)
    assert open_checkpoint(wire, LOG.verifier, witnesses=witnesses, quorum=1).cosigners == (W1.verifier,)


def test_cosignatures_by_untrusted_witnesses_do_not_count() -> None:
    wire = _witnessed(_checkpoint(), W1, W3).encode()
    with pytest.raises(CheckpointError, match=r"1 witness cosignature\(s\), 2 required"):
        open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier, W2.verifier], quorum=2)


def test_log_signature_does_not_count_towards_the_quorum() -> None:
    wire = sign_checkpoint(_checkpoint(), LOG).encode()
    with pytest.raises(CheckpointError, match=r"0 witness cosignature\(s\), 1 required"):
        open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier], quorum=1)


def test_cosignature_with_altered_timestamp_fails() -> None:
    cp = _checkpoint()
    good = _cosign(cp, W1)[0]
    altered_time = (T + 1).to_bytes(8, "big") + good.signature[8:]
    bad = NoteSignature(good.name, good.key_id, altered_time)
    wire = sign_checkpoint(cp, LOG).note.with_signatures([bad]).encode()
    with pytest.raises(CheckpointError, match=re.escape(f"signature by {W1.name}+{W1.verifier.key_id:08x} does not")):
        open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier], quorum=1)


def test_cosignature_of_another_checkpoint_fails() -> None:
    cp = _checkpoint()
    foreign = _cosign(_checkpoint(size=6), W1)
    wire = sign_checkpoint(cp, LOG).note.with_signatures(foreign).encode()
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier])


def test_cosignature_timestamp_must_be_below_two_to_the_63() -> None:
    cp = _checkpoint()
    huge = 1 << 63
    raw = huge.to_bytes(8, "big") + W1.sign(cosigned_message(cp.body(), huge))
    wire = sign_checkpoint(cp, LOG).note.with_signatures([NoteSignature(W1.name, W1.verifier.key_id, raw)]).encode()
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier])
    largest = huge - 1
    raw = largest.to_bytes(8, "big") + W1.sign(cosigned_message(cp.body(), largest))
    wire = sign_checkpoint(cp, LOG).note.with_signatures([NoteSignature(W1.name, W1.verifier.key_id, raw)]).encode()
    assert open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier], quorum=1).cosigners == (W1.verifier,)


def test_cosignature_of_wrong_length_fails() -> None:
    cp = _checkpoint()
    good = _cosign(cp, W1)[0]
    for raw in (good.signature[8:], good.signature + b"\x00"):
        wire = sign_checkpoint(cp, LOG).note.with_signatures([NoteSignature(good.name, good.key_id, raw)]).encode()
        with pytest.raises(CheckpointError, match="does not verify"):
            open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier])


def test_plain_ed25519_signature_is_not_a_cosignature() -> None:
    # A witness key of type 0x04 must not accept a type-0x01 signature over the bare body.
    cp = _checkpoint()
    plain = W1.sign(cp.body().encode())
    wire = sign_checkpoint(cp, LOG).note.with_signatures([NoteSignature(W1.name, W1.verifier.key_id, plain)]).encode()
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(wire, LOG.verifier, witnesses=[W1.verifier])


def test_cosigner_key_ids_use_type_0x04() -> None:
    assert W1.verifier.alg == ALG_COSIGNATURE_V1
    as_ed25519 = VerifierKey(W1.name, W1.verifier.public_key, ALG_ED25519)
    assert W1.verifier.key_id != as_ed25519.key_id
    assert VerifierKey.parse(W1.verifier.text()) == W1.verifier
