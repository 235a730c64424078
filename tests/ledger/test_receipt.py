"""Tests for :mod:`ledger.receipt` (C2SP tlog-proof receipts) and :mod:`ledger.entry` (log entries)."""

from __future__ import annotations

import base64
import re
import string
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger import canonical, merkle
from ledger.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from ledger.dsse import Envelope, sign, verify
from ledger.entry import LogEntry, format_time
from ledger.errors import EntryError, ReceiptError
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.note import sign as sign_note
from ledger.receipt import HEADER, Receipt, verify_receipt
from ledger.tiles import MAX_ENTRY_SIZE

ORIGIN = "example.com/registry"
LOG = SignerKey(ORIGIN, bytes([7]) * 32)
WITNESS = SignerKey("w.example/w1", bytes([9]) * 32, ALG_COSIGNATURE_V1)
ACCOUNT = SignerKey("account-1", bytes([5]) * 32)
PAYLOAD_TYPE = "application/vnd.carbon-registry.statement+json"
LOGGED_AT = "2024-05-01T12:34:56.123456Z"
T = 1_714_566_896


def _entry(i: int) -> LogEntry:
    payload = canonical.encode({"kind": "issue", "serial": i, "tonnes": 10 + i})
    return LogEntry(sign(PAYLOAD_TYPE, payload, [ACCOUNT]), LOGGED_AT)


def _tree(entries: list[bytes]) -> merkle.SubtreeHashes:
    return merkle.leaf_hashes_subtree([merkle.leaf_hash(e) for e in entries])


def _signed_checkpoint(entries: list[bytes], *, cosigned: bool = False) -> SignedCheckpoint:
    checkpoint = Checkpoint(ORIGIN, len(entries), merkle.root(len(entries), _tree(entries)))
    signed = sign_checkpoint(checkpoint, LOG)
    if cosigned:
        cosignature = sign_note(checkpoint.body(), [WITNESS], timestamp=T).signatures
        signed = SignedCheckpoint(checkpoint, signed.note.with_signatures(cosignature), ())
    return signed


def _receipt(entries: list[bytes], index: int, *, carry_entry: bool = True, cosigned: bool = False) -> Receipt:
    proof = merkle.inclusion_proof(index, len(entries), _tree(entries))
    checkpoint = _signed_checkpoint(entries, cosigned=cosigned).encode()
    return Receipt(index, tuple(proof), checkpoint, entries[index] if carry_entry else None)


ENTRIES = [_entry(i).encode() for i in range(5)]


# --- receipts: format and verification -----------------------------------------------------


def test_receipt_encoding_is_exact() -> None:
    receipt = _receipt(ENTRIES, 2)
    proof_lines = "".join(base64.b64encode(h).decode() + "\n" for h in receipt.proof)
    expected = (
        f"c2sp.org/tlog-proof@v1\nextra {base64.b64encode(ENTRIES[2]).decode()}\nindex 2\n"
        f"{proof_lines}\n{_signed_checkpoint(ENTRIES).encode()}"
    )
    assert receipt.encode() == expected
    assert HEADER == "c2sp.org/tlog-proof@v1"
    assert len(receipt.proof) == 3


def test_receipt_without_entry_has_no_extra_line() -> None:
    text = _receipt(ENTRIES, 0, carry_entry=False).encode()
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 0\n")
    assert "extra" not in text


@pytest.mark.parametrize("carry_entry", [True, False])
@pytest.mark.parametrize("index", range(5))
def test_encode_parse_round_trip(index: int, carry_entry: bool) -> None:
    receipt = _receipt(ENTRIES, index, carry_entry=carry_entry)
    assert Receipt.parse(receipt.encode()) == receipt


@pytest.mark.parametrize("size", range(1, 9))
def test_verify_receipt_for_every_leaf_of_small_trees(size: int) -> None:
    entries = [f"entry {i}".encode() for i in range(size)]
    expected_root = merkle.root(size, _tree(entries))
    for index in range(size):
        receipt = _receipt(entries, index)
        for form in (receipt, receipt.encode()):
            signed = verify_receipt(form, LOG.verifier)
            assert (signed.size, signed.root) == (size, expected_root)
            assert signed.checkpoint.origin == ORIGIN


def test_verify_receipt_with_the_entry_given_separately() -> None:
    receipt = _receipt(ENTRIES, 3, carry_entry=False)
    assert verify_receipt(receipt, LOG.verifier, entry=ENTRIES[3]).size == 5
    with pytest.raises(ReceiptError, match="receipt carries no entry and none was given"):
        verify_receipt(receipt, LOG.verifier)
    with pytest.raises(ReceiptError, match="entry 3: inclusion proof does not lead to the expected root"):
        verify_receipt(receipt, LOG.verifier, entry=ENTRIES[2])


def test_verify_receipt_entry_given_must_match_the_extra_line() -> None:
    receipt = _receipt(ENTRIES, 3)
    assert verify_receipt(receipt, LOG.verifier, entry=ENTRIES[3]).size == 5
    with pytest.raises(ReceiptError, match="differs from the one the receipt carries"):
        verify_receipt(receipt, LOG.verifier, entry=ENTRIES[4])


def test_verify_receipt_rejects_another_log_key() -> None:
    impostor = SignerKey(ORIGIN, bytes([8]) * 32)
    with pytest.raises(ReceiptError, match="not signed by any trusted key"):
        verify_receipt(_receipt(ENTRIES, 1).encode(), impostor.verifier)


def test_verify_receipt_checks_the_witness_quorum() -> None:
    receipt = _receipt(ENTRIES, 1, cosigned=True)
    signed = verify_receipt(receipt.encode(), LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
    assert signed.cosigners == (WITNESS.verifier,)
    other = SignerKey("w.example/w2", bytes([10]) * 32, ALG_COSIGNATURE_V1)
    with pytest.raises(ReceiptError, match=r"1 witness cosignature\(s\), 2 required"):
        verify_receipt(receipt.encode(), LOG.verifier, witnesses=[WITNESS.verifier, other.verifier], quorum=2)


def test_verify_receipt_rejects_an_index_outside_the_tree() -> None:
    receipt = _receipt(ENTRIES, 4)
    moved = Receipt(5, receipt.proof, receipt.checkpoint, receipt.entry)
    with pytest.raises(ReceiptError, match="entry 5: leaf index 5 is not in a tree of size 5"):
        verify_receipt(moved, LOG.verifier)


@pytest.mark.parametrize("change", ["drop-last", "drop-first", "extra-hash", "short-hash", "swap"])
def test_verify_receipt_rejects_altered_proofs(change: str) -> None:
    receipt = _receipt(ENTRIES, 2)
    proof = list(receipt.proof)
    if change == "drop-last":
        proof.pop()
    elif change == "drop-first":
        proof.pop(0)
    elif change == "extra-hash":
        proof.append(bytes(32))
    elif change == "short-hash":
        proof[0] = proof[0][:31]
    else:
        proof[0], proof[1] = proof[1], proof[0]
    with pytest.raises(ReceiptError, match="entry 2: "):
        verify_receipt(Receipt(2, tuple(proof), receipt.checkpoint, receipt.entry), LOG.verifier)


_VALID_HEAD = f"{HEADER}\nextra AAAA\nindex 0\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_VALID_HEAD, "no blank line before its checkpoint"),
        (_VALID_HEAD + "\n", "no blank line before its checkpoint"),
        ("", "no blank line"),
        ("c2sp.org/tlog-proof@v2\nindex 0\n\nx", "must start with 'c2sp.org/tlog-proof@v1'"),
        (f" {HEADER}\nindex 0\n\nx", "must start with"),
        (f"{HEADER}\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nextra AAAA\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nindex 01\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nindex -1\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nindex\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nindex 1 \n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nindex  1\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nIndex 1\n\nx", "needs an 'index N' line"),
        (f"{HEADER}\nindex 0\nextra AAAA\n\nx", "proof line 1 is not valid base64"),
        (f"{HEADER}\nextra AAA\nindex 0\n\nx", "extra line is not valid base64"),
        (f"{HEADER}\nextra AA!A\nindex 0\n\nx", "extra line is not valid base64"),
        (f"{HEADER}\nindex 0\nAAAA\nAAA=A\n\nx", "proof line 2 is not valid base64"),
        (f"{HEADER}\nindex 0\nAA AA\n\nx", "proof line 1 is not valid base64"),
    ],
)
def test_receipt_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(ReceiptError, match=re.escape(problem)):
        Receipt.parse(text)
    with pytest.raises(ReceiptError):
        verify_receipt(text, LOG.verifier)


def test_receipt_index_must_be_ascii_digits() -> None:
    with pytest.raises(ReceiptError):
        Receipt.parse(f"{HEADER}\nindex 1\u0663\n\nx")  # ARABIC-INDIC DIGIT THREE: int() reads 13


# --- receipts: every one-character change is rejected ----------------------------------------

_B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def _alternatives(ch: str, *, every: bool) -> list[str]:
    """Other characters to put in place of ``ch``.

    For a base64 character: each one that differs in a single one of its six bits, plus '='
    (or, with ``every``, all 64 others). For '=': every base64 character. Otherwise a few
    characters that matter to the syntax (separators, a digit, a letter, padding, the dash).
    """
    if ch in _B64_ALPHABET:
        if every:
            return [c for c in _B64_ALPHABET + "=" if c != ch]
        value = _B64_ALPHABET.index(ch)
        return [_B64_ALPHABET[value ^ (1 << bit)] for bit in range(6)] + ["="]
    if ch == "=":
        return list(_B64_ALPHABET)
    return [c for c in ("x", "0", " ", "\n", "=", "—") if c != ch]


def _unsigned_base64_tokens(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each base64 token that no signature covers.

    These are the ``extra`` value, the proof lines and the blobs of the note's signature lines.
    Everything else is either fixed syntax or signed text (the checkpoint body).
    """
    head, _, checkpoint = text.partition("\n\n")
    offset = 0
    for line in head.split("\n"):
        if line.startswith("extra "):
            yield offset + len("extra "), offset + len(line)
        elif line != HEADER and not line.startswith("index "):
            yield offset, offset + len(line)
        offset += len(line) + 1
    offset = len(head) + 2
    body, _, signatures = checkpoint.rpartition("\n\n")
    offset += len(body) + 2
    for line in signatures.split("\n")[:-1]:
        blob = line.rindex(" ") + 1
        yield offset + blob, offset + len(line)
        offset += len(line) + 1


def _decodes_identically(text: str, mutated: str, tokens: list[tuple[int, int]], position: int) -> bool:
    """Whether the change at ``position`` sits in an unsigned base64 token that still decodes the same."""
    for start, end in tokens:
        if start <= position < end:
            shift = len(mutated) - len(text)
            try:
                decoded = base64.b64decode(mutated[start : end + shift], validate=True)
            except ValueError:
                return False
            return decoded == base64.b64decode(text[start:end])
    return False


def _check_every_mutation(text: str, mutations: Iterator[tuple[int, str]]) -> tuple[int, list[tuple[int, str]]]:
    """Assert each mutation is rejected with ReceiptError unless it decodes identically.

    Returns the number of mutations tried and the harmless ones (position, mutated token).
    """
    tokens = list(_unsigned_base64_tokens(text))
    original = verify_receipt(text, LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
    tried, harmless = 0, []
    for position, mutated in mutations:
        tried += 1
        if _decodes_identically(text, mutated, tokens, position):
            # The same bytes, written differently: see test_every_one_character_change_is_rejected.
            assert verify_receipt(mutated, LOG.verifier, witnesses=[WITNESS.verifier], quorum=1) == original
            harmless.append((position, mutated))
            continue
        try:
            verify_receipt(mutated, LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
        except ReceiptError:
            continue
        pytest.fail(f"mutation at {position} was accepted: {text[position - 10 : position + 10]!r} → {mutated!r}")
    return tried, harmless


def _small_receipt() -> str:
    entries = [b"e0", b"e1", b"e2", b"e3", b"e4"]
    return _receipt(entries, 2, cosigned=True).encode()


def test_small_receipt_shape() -> None:
    text = _small_receipt()
    lines = text.split("\n")
    assert lines[:3] == [HEADER, "extra ZTI=", "index 2"]
    assert len(text) < 500
    assert sum(1 for line in lines if line.startswith("— ")) == 2  # log signature and one cosignature


def _pad_bits(token: str) -> int:
    """The number of padding bits in the last data character of a canonical base64 token."""
    return {0: 0, 1: 4, 2: 2}[len(base64.b64decode(token)) % 3]


@pytest.mark.parametrize(
    "every", [pytest.param(False, id="bit-flips"), pytest.param(True, id="all", marks=pytest.mark.slow)]
)
def test_every_one_character_change_is_rejected(every: bool) -> None:
    """Substitute every character of a small receipt (see :func:`_alternatives`).

    Genuinely harmless changes exist and are allowed, and only these: the last character
    before '=' padding of an unsigned base64 token (the ``extra`` value, a proof hash, a
    signature-line blob) carries 2 or 4 padding bits that decoders ignore (RFC 4648 §3.5
    lets decoders reject non-zero pad bits; Python's and Go's standard decoders do not). The
    decoded bytes are identical, so the receipt proves exactly the same thing. A change in
    the checkpoint body's root line is not harmless: the body is signed text.
    """
    text = _small_receipt()
    mutations = (
        (i, text[:i] + alt + text[i + 1 :]) for i in range(len(text)) for alt in _alternatives(text[i], every=every)
    )
    tried, harmless = _check_every_mutation(text, mutations)
    assert tried > (20_000 if every else 2_000)
    tokens = list(_unsigned_base64_tokens(text))
    for position, mutated in harmless:
        start, end = next((s, e) for s, e in tokens if s <= position < e)
        token = text[start:end]
        assert position == start + len(token.rstrip("=")) - 1, "only the last data character can be harmless"
        assert mutated[start:end] != base64.b64encode(base64.b64decode(token)).decode()  # non-canonical form
    # A token of n bytes has 0, 4 or 2 pad bits for n % 3 == 0, 1, 2: extra "ZTI=" (2 bytes)
    # 2, three proof hashes (32 bytes) 2 each, the log signature (4 + 64 bytes) 2 and the
    # cosignature (4 + 8 + 64 bytes) 4. Flipping one pad bit is harmless; with every
    # alternative, any of the 2**bits − 1 other pad-bit values is.
    bits = [_pad_bits(text[s:e]) for s, e in tokens]
    assert bits == [2, 2, 2, 2, 2, 4]
    assert len(harmless) == sum((2**b - 1) if every else b for b in bits)


def test_every_one_character_deletion_is_rejected() -> None:
    text = _small_receipt()
    tried, harmless = _check_every_mutation(text, ((i, text[:i] + text[i + 1 :]) for i in range(len(text))))
    assert tried == len(text)
    assert harmless == []


# --- log entries ------------------------------------------------------------------------------


def test_entry_encoding_is_canonical_json_of_envelope_and_time() -> None:
    entry = _entry(1)
    data = entry.encode()
    assert data == canonical.encode({"envelope": entry.envelope.to_json(), "logged_at": LOGGED_AT})
    assert data.startswith(b'{"envelope":{"payload":"')
    assert data.endswith(b'"logged_at":"2024-05-01T12:34:56.123456Z"}')


def test_entry_round_trip() -> None:
    entry = _entry(3)
    assert LogEntry.decode(entry.encode()) == entry
    assert LogEntry.decode(entry.encode()).encode() == entry.encode()


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=UTC), "2024-05-01T12:34:56.123456Z"),
        (datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00.000000Z"),
        (datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC), "1999-12-31T23:59:59.000001Z"),
    ],
)
def test_format_time(moment: datetime, expected: str) -> None:
    assert format_time(moment) == expected
    entry = LogEntry(_entry(0).envelope, format_time(moment))
    assert LogEntry.decode(entry.encode()).logged_at == expected


def _entry_bytes(entry: LogEntry) -> bytes:
    """The bytes LogEntry.encode would give, without its size check."""
    return canonical.encode({"envelope": entry.envelope.to_json(), "logged_at": entry.logged_at})


def _sized_entry(size: int) -> LogEntry:
    """An entry whose canonical form is exactly ``size`` bytes (payload and type lengths tuned)."""
    for pad in range(4):
        payload_type = PAYLOAD_TYPE + "x" * pad
        empty = len(_entry_bytes(LogEntry(sign(payload_type, b"", [ACCOUNT]), LOGGED_AT)))
        if (size - empty) % 4 == 0:
            entry = LogEntry(sign(payload_type, b"p" * ((size - empty) // 4 * 3), [ACCOUNT]), LOGGED_AT)
            assert len(_entry_bytes(entry)) == size
            return entry
    raise AssertionError("unreachable")


def test_entry_size_limit() -> None:
    assert MAX_ENTRY_SIZE == 65535
    at_limit = _sized_entry(MAX_ENTRY_SIZE)
    assert LogEntry.decode(at_limit.encode()) == at_limit
    over = _sized_entry(MAX_ENTRY_SIZE + 4)
    with pytest.raises(EntryError, match="entry is 65539 bytes; the limit is 65535"):
        over.encode()
    with pytest.raises(EntryError, match="entry is 65539 bytes; the limit is 65535"):
        LogEntry.decode(_entry_bytes(over))


def test_entry_decode_checks_size_before_parsing() -> None:
    with pytest.raises(EntryError, match="entry is 65536 bytes"):
        LogEntry.decode(b" " * 65536)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d + b"\n",
        lambda d: b" " + d,
        lambda d: d.replace(b'":', b'": ', 1),
        lambda d: d.replace(b'"logged_at"', b'"logged\\u005fat"'),
    ],
)
def test_entry_decode_rejects_non_canonical_bytes(mangle: Callable[[bytes], bytes]) -> None:
    data = mangle(_entry(0).encode())
    with pytest.raises(EntryError, match="entry is not canonical JSON: JSON is not in RFC 8785 canonical form"):
        LogEntry.decode(data)


def test_entry_decode_rejects_reordered_keys() -> None:
    entry = _entry(0)
    envelope = canonical.encode(entry.envelope.to_json()).decode()
    data = f'{{"logged_at":"{LOGGED_AT}","envelope":{envelope}}}'.encode()
    with pytest.raises(EntryError, match="canonical form"):
        LogEntry.decode(data)


@pytest.mark.parametrize("data", [b"\xff", b"{", b'{"a":1.5}', b'{"a":1,"a":1}'])
def test_entry_decode_rejects_bad_json(data: bytes) -> None:
    with pytest.raises(EntryError, match="entry is not canonical JSON"):
        LogEntry.decode(data)


@pytest.mark.parametrize(
    "value",
    [
        [],
        "entry",
        {},
        {"envelope": {}},
        {"logged_at": LOGGED_AT},
        {"envelope": {}, "logged_at": LOGGED_AT, "extra": 1},
    ],
)
def test_entry_decode_rejects_wrong_shape(value: object) -> None:
    with pytest.raises(EntryError, match="exactly envelope and logged_at"):
        LogEntry.decode(canonical.encode(value))


@pytest.mark.parametrize(
    "logged_at",
    [
        1714566896,
        None,
        "",
        "2024-05-01T12:34:56Z",
        "2024-05-01T12:34:56.123Z",
        "2024-05-01T12:34:56.1234567Z",
        "2024-05-01T12:34:56.123456",
        "2024-05-01T12:34:56.123456+00:00",
        "2024-05-01t12:34:56.123456Z",
        "2024-05-01T12:34:56.123456z",
        "2024-05-01 12:34:56.123456Z",
        "24-05-01T12:34:56.123456Z",
        " 2024-05-01T12:34:56.123456Z",
        "2024-05-01T12:34:56.123456Z\n",
    ],
)
def test_entry_decode_rejects_bad_logged_at(logged_at: object) -> None:
    data = canonical.encode({"envelope": _entry(0).envelope.to_json(), "logged_at": logged_at})
    with pytest.raises(EntryError, match="logged_at must be an RFC 3339 UTC time with microseconds"):
        LogEntry.decode(data)


@pytest.mark.parametrize(
    "logged_at",
    [
        "2024-13-45T99:99:99.000000Z",  # month 13, day 45, hour 99
        "\uff12\uff10\uff12\uff14-05-01T12:34:56.123456Z",  # FULLWIDTH digits match \d
    ],
)
def test_entry_decode_rejects_impossible_logged_at(logged_at: str) -> None:
    data = canonical.encode({"envelope": _entry(0).envelope.to_json(), "logged_at": logged_at})
    with pytest.raises(EntryError):
        LogEntry.decode(data)


def test_entry_decode_rejects_a_bad_envelope() -> None:
    envelope = _entry(0).envelope.to_json()
    envelope["signatures"] = []
    data = canonical.encode({"envelope": envelope, "logged_at": LOGGED_AT})
    with pytest.raises(EntryError, match=re.escape("entry envelope: envelope.signatures must be a non-empty list")):
        LogEntry.decode(data)


def test_entry_encode_of_a_decoded_entry_verifies() -> None:
    entry = LogEntry.decode(_entry(2).encode())
    assert isinstance(entry.envelope, Envelope)
    assert verify(entry.envelope, {ACCOUNT.verifier.dsse_key_id: ACCOUNT.verifier})


def _non_canonical_entry(kind: str) -> bytes:
    """A validly signed entry whose envelope writes a base64 field in a non-canonical form."""
    envelope = sign(PAYLOAD_TYPE, b"abc", [ACCOUNT]).to_json()  # payload "YWJj": no padding
    if kind == "pad-bits":
        sig = envelope["signatures"][0]["sig"]  # 64 bytes: 88 characters ending "==", 4 pad bits
        envelope["signatures"][0]["sig"] = sig[:-3] + _B64_ALPHABET[_B64_ALPHABET.index(sig[-3]) | 1] + "=="
    else:
        envelope["payload"] += "="  # Python accepts '=' after a complete 4-character group
    return canonical.encode({"envelope": envelope, "logged_at": LOGGED_AT})


@pytest.mark.parametrize("kind", ["pad-bits", "excess-padding"])
def test_entry_decode_accepts_only_bytes_that_encode_reproduces(kind: str) -> None:
    # Otherwise the same signed envelope can be logged under several different entry byte strings.
    data = _non_canonical_entry(kind)
    try:
        entry = LogEntry.decode(data)
    except EntryError:
        return
    assert entry.encode() == data
