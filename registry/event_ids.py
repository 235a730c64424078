"""Fresh idempotency ids for events: UUIDv7 (RFC 9562 §5.7), in creation order.

An event's ``id`` is the client's choice; the registry looks every one up and indexes it
(``reg_events.id``). A random id (UUIDv4) lands on a random page of that index, so a batch
of 500 events dirties some 500 index pages, each written to the write-ahead log at commit:
on SQLite at a million events, most of the commit's cost. Ids that grow with time land on
the index's right edge (RFC 9562 §2.1 names the poor index locality of random ids as the
reason for version 7), so the CLI and the command builders make those. Clients may still
send any id the event schema admits.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid


class _Sequence:
    """The last id's leading 60 bits (``unix_ts_ms``, then ``rand_a``), behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next_head(self) -> int:
        with self._lock:
            head = (time.time_ns() // 1_000_000) << 12 | secrets.randbits(12)
            self._last = head if head > self._last else self._last + 1
            return self._last


_sequence = _Sequence()


def new_event_id() -> str:
    """A new UUIDv7, greater than every id this process made before it.

    ``unix_ts_ms`` is the time in milliseconds (RFC 9562 §5.7). ``rand_a`` is a 12-bit counter
    seeded at random (§6.2, Method 1): an id that would not sort after the last one takes
    the last one's timestamp and counter plus one, a counter overflow carrying into the
    timestamp, so ids stay ordered when the clock stands still or steps back. ``rand_b`` is
    62 random bits: uniqueness across processes comes from them.
    """
    head = _sequence.next_head()
    value = (head >> 12) << 80 | 0x7 << 76 | (head & 0xFFF) << 64 | 0b10 << 62 | secrets.randbits(62)
    return str(uuid.UUID(int=value))
