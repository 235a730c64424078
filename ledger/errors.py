"""Errors raised by the ledger.

Every error carries a stable ``code`` so that callers (the registry, the API) can map it
without matching on messages::

    LedgerError
    ├── CanonicalJSONError      bytes that are not RFC 8785 canonical JSON, or floats in signed data
    ├── EnvelopeError           a DSSE envelope that is malformed
    ├── SignatureError          a signature that does not verify, or too few that do
    ├── KeyFormatError          a key or verifier-key text that cannot be parsed
    ├── NoteError               a signed note that is malformed or not signed by a known key
    ├── CheckpointError         a checkpoint body that is malformed or for another log
    ├── ProofError              an inclusion or consistency proof that does not verify
    ├── ReceiptError            a tlog-proof receipt that is malformed or does not verify
    ├── EntryError              a log entry that is too large or malformed
    └── StoreError              the store cannot be used safely
        ├── StoreBehindError    the store holds fewer entries than a published checkpoint
        ├── ForkError           the store disagrees with a published checkpoint
        └── PublishError        entries committed, but their checkpoint could not be published
"""

from __future__ import annotations

from typing import Any


class RebuildableError(Exception):
    """An exception that pickles as the call that made it, so it crosses processes whole.

    Pickle rebuilds an exception as ``type(exc)(*exc.args)``, and ``args`` holds the message, not
    what ``__init__`` took: an error with fields of its own would not rebuild. Keeping the
    constructor's arguments lets an intake worker or the writer process (registry.writer) raise
    in the caller the very error it met, fields and all.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> RebuildableError:
        made = super().__new__(cls, *args)
        made._made_with = (args, kwargs)
        return made

    _made_with: tuple[tuple[Any, ...], dict[str, Any]]

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self._made_with
        return (_rebuild, (type(self), args, kwargs))


def _rebuild(cls: type[RebuildableError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> RebuildableError:
    return cls(*args, **kwargs)


class LedgerError(RebuildableError):
    """Root of every error raised by :mod:`ledger`."""

    code = "ledger-error"


class CanonicalJSONError(LedgerError):
    """Bytes are not RFC 8785 canonical JSON, or a value cannot be signed (floats, big ints)."""

    code = "non-canonical-json"


class EnvelopeError(LedgerError):
    """A DSSE envelope is malformed."""

    code = "malformed-envelope"


class SignatureError(LedgerError):
    """A signature does not verify, or fewer signatures verify than required."""

    code = "bad-signature"


class KeyFormatError(LedgerError):
    """A signer key, verifier key or key file cannot be parsed."""

    code = "bad-key"


class NoteError(LedgerError):
    """A C2SP signed note is malformed or carries no valid signature by a known key."""

    code = "bad-note"


class CheckpointError(LedgerError):
    """A C2SP checkpoint body is malformed, or names another log."""

    code = "bad-checkpoint"


class ProofError(LedgerError):
    """An RFC 9162 inclusion or consistency proof does not verify."""

    code = "bad-proof"


class ReceiptError(LedgerError):
    """A C2SP tlog-proof receipt is malformed or does not verify."""

    code = "bad-receipt"


class EntryError(LedgerError):
    """A log entry is malformed, or too large for an entry bundle."""

    code = "bad-entry"


class StoreError(LedgerError):
    """The log store cannot be used safely."""

    code = "store-error"


class StoreBehindError(StoreError):
    """The store holds fewer entries than a checkpoint that was already published.

    Opening it would let the log sign a second, different history for the same sizes
    (a restored backup forks the log), so the sequencer refuses to start.
    """

    code = "store-behind-checkpoint"

    def __init__(self, store_size: int, checkpoint_size: int) -> None:
        super().__init__(
            f"store holds {store_size} entries but checkpoint {checkpoint_size} was already "
            "published: refusing to open a store that is behind (a restored backup would fork the log)"
        )
        self.store_size = store_size
        self.checkpoint_size = checkpoint_size


class ForkError(StoreError):
    """The store's tree does not match a checkpoint that was already published."""

    code = "store-fork"


class PublishError(StoreError):
    """A batch committed but its checkpoint could not be signed or published.

    The entries ``first .. first + count − 1`` are durable and will be covered by the next
    checkpoint; a caller must not resubmit them as if they had failed.
    """

    code = "publish-failed"

    def __init__(self, first: int, count: int, cause: Exception) -> None:
        super().__init__(f"entries {first}..{first + count - 1} were committed but not yet published: {cause}")
        self.first = first
        self.count = count
        self.cause = cause
