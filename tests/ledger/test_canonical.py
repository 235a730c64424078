"""Tests for :mod:`ledger.canonical`: RFC 8785 canonical JSON with the ledger's extra rules."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import MAX_SAFE_INTEGER, decode, encode
from ledger.errors import CanonicalJSONError, LedgerError

# --- RFC 8785 examples -------------------------------------------------------------------


def test_error_class_and_code() -> None:
    assert issubclass(CanonicalJSONError, LedgerError)
    assert CanonicalJSONError.code == "non-canonical-json"


def test_rfc8785_property_sorting_example() -> None:
    # RFC 8785 §3.2.3: keys sort by their UTF-16 code units, so the emoji (U+1F600, encoded
    # as the surrogates D83D DE00) sorts *before* U+FB33, unlike a code-point sort.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode()
    assert encode(value) == expected
    assert decode(expected) == value


def test_utf16_order_differs_from_code_point_order() -> None:
    value = {"\uffff": 1, "\U00010000": 2}
    # Code-point order would put U+FFFF first; UTF-16 order puts the surrogate pair (D800) first.
    assert encode(value) == '{"\U00010000":2,"\uffff":1}'.encode()


def test_rfc8785_string_escaping_example() -> None:
    # RFC 8785 §3.2.2.2 / appendix example, without its (forbidden here) numbers.
    value = {"literals": [None, True, False], "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"}
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()
    assert encode(value) == expected
    assert decode(expected) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\b\f\n\r\t", b'"\\b\\f\\n\\r\\t"'),
        ("\x00\x01\x1f", b'"\\u0000\\u0001\\u001f"'),
        ('"\\', b'"\\"\\\\"'),
        ("/", b'"/"'),  # the solidus is not escaped
        ("\x7f", b'"\x7f"'),  # DEL is not a JSON control character
        ("é€😀", '"é€😀"'.encode()),  # non-ASCII stays UTF-8, never \\u escapes
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),
    ],
)
def test_string_escaping(value: str, expected: bytes) -> None:
    assert encode(value) == expected
    assert decode(expected) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-1, b"-1"),
        (42, b"42"),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (-MAX_SAFE_INTEGER, b"-9007199254740991"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ([], b"[]"),
        ({}, b"{}"),
        ([1, [2, {}], {"a": []}], b'[1,[2,{}],{"a":[]}]'),
    ],
)
def test_scalars_and_containers(value: Any, expected: bytes) -> None:
    assert encode(value) == expected
    assert decode(expected) == value


def test_nested_keys_are_sorted_at_every_level() -> None:
    assert encode({"b": {"d": 1, "c": 2}, "a": [{"z": 0, "y": 1}]}) == b'{"a":[{"y":1,"z":0}],"b":{"c":2,"d":1}}'


def test_tuples_encode_as_arrays() -> None:
    assert encode(("a", (1, 2))) == b'["a",[1,2]]'


def test_max_safe_integer_constant() -> None:
    assert MAX_SAFE_INTEGER == 2**53 - 1


# --- encode rejections ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.0, 1e3, -0.0, 0.5, float("nan"), float("inf"), float("-inf")])
def test_encode_rejects_floats(value: float) -> None:
    with pytest.raises(CanonicalJSONError, match="floats are not allowed"):
        encode(value)


def test_encode_names_the_path_of_a_nested_float() -> None:
    with pytest.raises(CanonicalJSONError, match=re.escape("$.a[1].b: floats")):
        encode({"a": [1, {"b": 2.5}]})


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**64, -(2**100)])
def test_encode_rejects_integers_outside_the_safe_range(value: int) -> None:
    with pytest.raises(CanonicalJSONError, match=re.escape(f"integer {value} is outside")):
        encode(value)


def test_encode_rejects_big_integer_inside_a_list() -> None:
    with pytest.raises(CanonicalJSONError, match=re.escape("$[2]: integer")):
        encode([0, 1, 2**53])


@pytest.mark.parametrize("key", [1, None, True, (1, 2)])
def test_encode_rejects_non_string_keys(key: Any) -> None:
    with pytest.raises(CanonicalJSONError, match="is not a string"):
        encode({key: 1})


@pytest.mark.parametrize("value", [b"bytes", bytearray(b"x"), {1, 2}, object(), 1j])
def test_encode_rejects_types_json_cannot_carry(value: Any) -> None:
    with pytest.raises(CanonicalJSONError, match="cannot be represented in JSON"):
        encode(value)


def test_encode_rejects_lone_surrogates() -> None:
    with pytest.raises(CanonicalJSONError):
        encode("\ud800")


# --- decode rejections ---------------------------------------------------------------------


@pytest.mark.parametrize("text", [b"1.0", b"1e3", b"1E3", b"-0.0", b"0.5", b"[1,2.5]", b'{"a":1e0}', b"1E400"])
def test_decode_rejects_floats(text: bytes) -> None:
    with pytest.raises(CanonicalJSONError, match="floats are not allowed"):
        decode(text)


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"-Infinity", b"[NaN]"])
def test_decode_rejects_non_finite_numbers(text: bytes) -> None:
    with pytest.raises(CanonicalJSONError, match="is not valid JSON"):
        decode(text)


@pytest.mark.parametrize("text", [b'{"a":1,"a":2}', b'{"a":1,"a":1}', b'[{"b":{"x":1,"x":null}}]'])
def test_decode_rejects_duplicate_keys(text: bytes) -> None:
    with pytest.raises(CanonicalJSONError, match="duplicate object key"):
        decode(text)


def test_decode_rejects_duplicate_keys_that_differ_only_in_escaping() -> None:
    # "\u0061" and "a" are the same key once parsed.
    with pytest.raises(CanonicalJSONError, match="duplicate object key 'a'"):
        decode(b'{"a":1,"\\u0061":2}')


@pytest.mark.parametrize(
    "text", [b"9007199254740992", b"-9007199254740992", b"18446744073709551616", b'{"n":[9007199254740992]}']
)
def test_decode_rejects_integers_outside_the_safe_range(text: bytes) -> None:
    with pytest.raises(CanonicalJSONError, match="outside"):
        decode(text)


def test_decode_accepts_the_safe_range_bounds() -> None:
    assert decode(b"9007199254740991") == MAX_SAFE_INTEGER
    assert decode(b"-9007199254740991") == -MAX_SAFE_INTEGER


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"\xff", 0),
        (b'"a\xc3"', 2),  # truncated two-byte sequence
        (b'"ab\xed\xa0\x80"', 3),  # a UTF-8-encoded surrogate is not valid UTF-8
        (b'{"a":"\xc0\xaf"}', 6),  # overlong encoding of "/"
    ],
)
def test_decode_rejects_invalid_utf8_naming_the_byte(data: bytes, offset: int) -> None:
    with pytest.raises(CanonicalJSONError, match=f"not valid UTF-8 at byte {offset}"):
        decode(data)


@pytest.mark.parametrize("data", [b"", b"{", b"[1,]", b"{'a':1}", b"tru", b'"abc', b"1 2", b"01", b"\xef\xbb\xbf1"])
def test_decode_rejects_invalid_json(data: bytes) -> None:
    with pytest.raises(CanonicalJSONError, match="not valid JSON"):
        decode(data)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b'{"b":1,"a":2}', 2),  # wrong key order
        (b'{"a": 1}', 5),  # space after the colon
        (b'{"a":1 }', 6),  # space before the brace
        (b"[1, 2]", 3),  # space after the comma
        (b" 1", 0),  # leading whitespace
        (b"1\n", 1),  # trailing newline: canonical is shorter, difference at its end
        (b"-0", 0),  # negative zero is written 0
        (b'"\\u00e9"', 1),  # non-ASCII must not be escaped
        (b'"\\/"', 1),  # the solidus must not be escaped
        (b'"\\u000a"', 2),  # short escapes are used where they exist
        (b'"\\u001F"', 6),  # hex digits are lowercase
        (b'{"\xef\xac\xb3":1,"\xf0\x9f\x98\x80":2}', 2),  # code-point order instead of UTF-16 order
    ],
)
def test_decode_rejects_non_canonical_bytes_naming_the_first_difference(data: bytes, offset: int) -> None:
    expected = rf"not in RFC 8785 canonical form \(first difference at byte {offset}\)"
    with pytest.raises(CanonicalJSONError, match=expected):
        decode(data)


def test_decode_rejects_negative_zero_even_though_it_parses_as_an_integer() -> None:
    with pytest.raises(CanonicalJSONError, match="canonical form"):
        decode(b"[-0]")


def test_error_chains_the_underlying_cause() -> None:
    with pytest.raises(CanonicalJSONError) as info:
        decode(b"[1,")
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


# Found while writing these tests: decode() promises CanonicalJSONError for any bad input,
# but Python's json module raises ValueError for integers with more than 4300 digits and
# RecursionError for deeply nested arrays; neither is caught. (Both also escape
# LogEntry.decode, whose 65,535-byte limit leaves room for either.)


def test_decode_rejects_huge_integer_literal_with_canonical_error() -> None:
    with pytest.raises(CanonicalJSONError):
        decode(b"1" * 5000)


def test_decode_rejects_deep_nesting_with_canonical_error() -> None:
    with pytest.raises(CanonicalJSONError):
        decode(b"[" * 50_000 + b"]" * 50_000)


# --- properties ------------------------------------------------------------------------------

_safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
_json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | _safe_ints | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Equality that also tells True from 1 and False from 0 (== does not)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _reference_encoding(value: Any) -> bytes:
    """An independent RFC 8785 encoder for values without floats: keys by UTF-16 code units."""

    def order(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: order(v[k]) for k in sorted(v, key=lambda k: k.encode("utf-16-be"))}
        if isinstance(v, list):
            return [order(x) for x in v]
        return v

    return json.dumps(order(value), ensure_ascii=False, separators=(",", ":")).encode()


@given(_json_values)
def test_round_trip(value: Any) -> None:
    data = encode(value)
    assert _same(decode(data), value)


@given(_json_values)
def test_encoding_matches_an_independent_reference(value: Any) -> None:
    assert encode(value) == _reference_encoding(value)


@given(_json_values)
def test_decode_rejects_whitespace_around_canonical_bytes(value: Any) -> None:
    data = encode(value)
    for padded in (b" " + data, data + b" ", data + b"\n"):
        with pytest.raises(CanonicalJSONError, match="canonical form"):
            decode(padded)


@given(st.dictionaries(st.text(), _safe_ints, min_size=2, max_size=6))
def test_decode_reports_the_first_differing_byte_of_pretty_printed_json(value: dict[str, int]) -> None:
    data = json.dumps(value, ensure_ascii=False, indent=1).encode()
    expected = encode(value)
    first = next(i for i, (x, y) in enumerate(zip(expected, data, strict=False)) if x != y)
    with pytest.raises(CanonicalJSONError, match=rf"first difference at byte {first}\)"):
        decode(data)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_is_rejected_by_encode(value: float) -> None:
    with pytest.raises(CanonicalJSONError):
        encode({"x": [value]})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=1000)
@given(JSON_VALUES)
def test_fast_path_writes_exactly_what_the_reference_encoder_writes(value: Any) -> None:
    # encode() uses the standard library's encoder when every key is in the BMP; the
    # rfc8785 reference implementation must agree byte for byte, astral keys included.
    try:
        reference = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(CanonicalJSONError):
            encode(value)
        return
    assert encode(value) == reference
