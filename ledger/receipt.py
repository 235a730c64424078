"""Receipts in the C2SP tlog-proof format, and their offline verification.

A receipt is::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry>
    index <N>
    <base64 inclusion proof hash, leaf sibling first>
    ...

    <the checkpoint note, verbatim, with any cosignatures>

The ``extra`` line carries the entry itself, so a receipt alone is enough to check that
the entry is in the log: it is not trusted, but the inclusion proof authenticates it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.errors import CheckpointError, ProofError, ReceiptError
from ledger.keys import VerifierKey
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.trust_policy import Policy

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]*)")


@dataclass(frozen=True)
class Receipt:
    """An entry's index, its inclusion proof, the checkpoint note it leads to, and the entry."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    entry: bytes | None = None

    def encode(self) -> str:
        """Return the receipt in tlog-proof text form."""
        lines = [HEADER]
        if self.entry is not None:
            lines.append("extra " + base64.b64encode(self.entry).decode())
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> Receipt:
        """Parse tlog-proof text; raise :class:`ReceiptError` naming the bad line."""
        head, sep, checkpoint = text.partition("\n\n")
        if not sep or not checkpoint:
            raise ReceiptError("receipt has no blank line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise ReceiptError(f"receipt must start with {HEADER!r}")
        pos, entry = 1, None
        if pos < len(lines) and lines[pos].startswith("extra "):
            entry = _b64(lines[pos][len("extra ") :], "extra line")
            pos += 1
        if pos >= len(lines) or not (match := _INDEX.fullmatch(lines[pos])):
            raise ReceiptError("receipt needs an 'index N' line (decimal, no leading zeroes)")
        proof = tuple(_b64(line, f"proof line {i + 1}") for i, line in enumerate(lines[pos + 1 :]))
        return cls(int(match[1]), proof, checkpoint, entry)


def verify_receipt(
    receipt: Receipt | str,
    log_key: VerifierKey,
    *,
    entry: bytes | None = None,
    witnesses: Iterable[VerifierKey] = (),
    quorum: int = 0,
    policy: Policy | None = None,
) -> SignedCheckpoint:
    """Verify a receipt offline and return the checkpoint it proves inclusion in.

    Steps: (1) parse; (2) verify the checkpoint's log signature, origin and witness quorum
    (``witnesses`` and ``quorum``, or a trust ``policy``'s quorum); (3) take the entry given,
    or the one in the ``extra`` line; (4) verify its RFC 9162 inclusion proof at ``index``
    against the checkpoint's root. Raises :class:`ReceiptError`.
    """
    parsed = receipt if isinstance(receipt, Receipt) else Receipt.parse(receipt)  # (1)
    try:
        signed = open_checkpoint(parsed.checkpoint, log_key, witnesses=witnesses, quorum=quorum)  # (2)
        if policy is not None:
            signed = policy.verify(parsed.checkpoint)
    except CheckpointError as exc:
        raise ReceiptError(str(exc)) from exc
    data = entry if entry is not None else parsed.entry  # (3)
    if data is None:
        raise ReceiptError("receipt carries no entry and none was given")
    if entry is not None and parsed.entry is not None and parsed.entry != entry:
        raise ReceiptError("the entry given differs from the one the receipt carries")
    try:  # (4)
        verify_inclusion(parsed.index, signed.size, leaf_hash(data), parsed.proof, signed.root)
    except ProofError as exc:
        raise ReceiptError(f"entry {parsed.index}: {exc}") from exc
    return signed


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReceiptError(f"receipt {what} is not valid base64") from exc
