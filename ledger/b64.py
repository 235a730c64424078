"""Strict standard base64 (RFC 4648 §4) for signed data.

Python's decoder accepts extra ``=`` and non-zero padding bits, so one value would have
several encodings; in signed, logged data it must have exactly one (RFC 4648 §3.5 lets
decoders reject non-canonical encodings, and ours do).
"""

from __future__ import annotations

import base64
import binascii


def decode(text: str) -> bytes:
    """Return the bytes ``text`` encodes; raise ValueError unless it is canonical base64."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64") from exc
    if base64.b64encode(data).decode() != text:
        raise ValueError("non-canonical base64 (extra padding or non-zero padding bits)")
    return data


def encode(data: bytes) -> str:
    """Return the standard base64 text of ``data``."""
    return base64.b64encode(data).decode()
