"""Where an event sits in the log: the index it gets and the time the sequencer logged it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """The log index of the event being applied and its entry's ``logged_at`` (RFC 3339)."""

    index: int
    logged_at: str
