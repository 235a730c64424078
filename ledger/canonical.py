"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme).

Signed data in this log is always canonical JSON, so that a statement has exactly one byte
form and a signature over it can be checked by anyone. Two rules go beyond RFC 8785:

- no floats anywhere (quantities are integers; RFC 8785 §3.2.2.3 number serialisation
  differs between languages more often than anyone expects);
- integers stay inside the I-JSON safe range, |n| ≤ 2**53 − 1 (RFC 7493 §2.2).
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ledger.errors import CanonicalJSONError

MAX_SAFE_INTEGER = 2**53 - 1

JSONValue = Any
"""A value made of dict, list, str, int, bool and None only."""


def encode(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical bytes of ``value``.

    Raises :class:`CanonicalJSONError` if the value holds a float, an integer outside
    ±(2**53 − 1), a non-string object key, or any type JSON cannot carry.
    """
    if _check_signable(value, "$"):
        fast = _encode_bmp(value)
        if fast is not None:
            return fast
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalJSONError(f"cannot canonicalise value: {exc}") from exc


def _encode_bmp(value: JSONValue) -> bytes | None:
    """The canonical bytes of a value whose object keys all lie in the BMP, or None for a lone surrogate.

    With such keys, sorting by code point equals RFC 8785 §3.2.3's sort by UTF-16 code units,
    and Python escapes strings as §3.2.2.2 does (", \\, \\b \\f \\n \\r \\t, other controls as
    lowercase \\u00xx): the standard library's encoder writes the canonical form, much faster.
    A lone surrogate cannot be UTF-8 encoded; the reference encoder then refuses it by name.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return None


def decode(data: bytes) -> JSONValue:
    """Parse ``data`` and return its value, only if the bytes are already canonical.

    Raises :class:`CanonicalJSONError` naming the problem: invalid UTF-8, invalid JSON,
    duplicate keys, floats or non-finite numbers, integers outside the safe range, or bytes
    that differ from the canonical form (with the offset of the first difference).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalJSONError(f"not valid UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_float=_Float,
            parse_constant=_reject_constant,
        )
    except CanonicalJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise CanonicalJSONError(f"not valid JSON: {exc.msg} at character {exc.pos}") from exc
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        raise CanonicalJSONError(f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise CanonicalJSONError("JSON is nested too deeply") from exc
    canonical = encode(value)
    if canonical != data:
        raise CanonicalJSONError(
            f"JSON is not in RFC 8785 canonical form (first difference at byte {_first_difference(canonical, data)})"
        )
    return value


class _Float(str):
    """A non-integer number as parsed, kept as text so that the check can name its path."""


def _check_signable(value: JSONValue, path: str) -> bool:
    """Raise unless ``value`` can be signed; return whether all its object keys lie in the BMP."""
    if isinstance(value, _Float):
        raise CanonicalJSONError(f"{path}: number {value} is not an integer: floats are not allowed in signed data")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJSONError(f"{path}: integer {value} is outside ±(2**53 − 1)")
        return True
    if isinstance(value, float):
        raise CanonicalJSONError(f"{path}: floats are not allowed in signed data; use integers")
    if isinstance(value, dict):
        bmp = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: object key {key!r} is not a string")
            bmp = _check_signable(item, f"{path}.{key}") and bmp and (not key or max(key) <= "\uffff")
        return bmp
    if isinstance(value, list | tuple):
        bmp = True
        for i, item in enumerate(value):
            bmp = _check_signable(item, f"{path}[{i}]") and bmp
        return bmp
    raise CanonicalJSONError(f"{path}: {type(value).__name__} cannot be represented in JSON")


def _object_without_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    result: dict[str, JSONValue] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalJSONError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _reject_constant(text: str) -> float:
    raise CanonicalJSONError(f"{text} is not valid JSON")


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))
