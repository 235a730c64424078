"""Log entries: an accepted DSSE envelope plus the sequencer's metadata.

An entry is the RFC 8785 canonical JSON of ``{"envelope": {...}, "logged_at": "<RFC 3339>"}``
and at most 65,535 bytes, so that it fits an entry bundle's uint16 length prefix
(C2SP tlog-tiles § "Log entries"). Documents are referenced by digest, never inlined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger import b64, canonical
from ledger.dsse import Envelope
from ledger.errors import CanonicalJSONError, EntryError, EnvelopeError
from ledger.tiles import MAX_ENTRY_SIZE

_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def format_time(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC with microseconds, the form entries carry."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LogEntry:
    """One entry of the log: the envelope as accepted and when the sequencer logged it."""

    envelope: Envelope
    logged_at: str

    def encode(self) -> bytes:
        """Return the entry's canonical bytes; raise :class:`EntryError` if over 65,535 bytes."""
        data = _encode(self.envelope, self.logged_at)
        if len(data) > MAX_ENTRY_SIZE:
            raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
        return data

    @classmethod
    def decode(cls, data: bytes) -> LogEntry:
        """Parse an entry; raise :class:`EntryError` saying what is wrong with it."""
        if len(data) > MAX_ENTRY_SIZE:
            raise EntryError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_SIZE}")
        try:
            value = canonical.decode(data)
        except CanonicalJSONError as exc:
            raise EntryError(f"entry is not canonical JSON: {exc}") from exc
        if not isinstance(value, dict) or set(value) != {"envelope", "logged_at"}:
            raise EntryError("entry must be an object with exactly envelope and logged_at")
        logged_at = value["logged_at"]
        if not isinstance(logged_at, str) or not _is_time(logged_at):
            raise EntryError("entry logged_at must be an RFC 3339 UTC time with microseconds")
        try:
            envelope = Envelope.from_json(value["envelope"])
        except EnvelopeError as exc:
            raise EntryError(f"entry envelope: {exc}") from exc
        return cls(envelope, logged_at)


def _encode(envelope: Envelope, logged_at: str) -> bytes:
    """RFC 8785 bytes of ``{"envelope": …, "logged_at": …}``, written directly (the hot path of every append).

    Keys are emitted in their sorted order (envelope < logged_at; payload < payloadType <
    signatures; keyid < sig), base64 and the RFC 3339 time need no escaping, and the free
    strings go through :func:`canonical.encode`, so the bytes equal the generic encoder's
    (tests/ledger/test_entry.py checks both agree).
    """
    signatures = ",".join(f'{{"keyid":{_string(s.keyid)},"sig":"{b64.encode(s.sig)}"}}' for s in envelope.signatures)
    return (
        f'{{"envelope":{{"payload":"{b64.encode(envelope.payload)}","payloadType":{_string(envelope.payload_type)},'
        f'"signatures":[{signatures}]}},"logged_at":{_string(logged_at)}}}'
    ).encode()


def _string(text: str) -> str:
    # Printable ASCII without '"' or '\\' is its own JSON form (RFC 8785 §3.2.2.2).
    if _PLAIN.fullmatch(text):
        return f'"{text}"'
    return canonical.encode(text).decode()


_PLAIN = re.compile(r"[ !#-\[\]-~]*")


def _is_time(text: str) -> bool:
    if not _TIMESTAMP.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True
