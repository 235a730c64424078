"""Fresh event ids are RFC 9562 version 7 UUIDs, in creation order, and admitted by the event schema."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from registry import commands, event_ids
from registry.events import validate_event

ORIGIN = "example.org/registry"


def test_an_id_is_a_version_7_uuid_carrying_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(event_ids.new_event_id())
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122  # the bits 10 (RFC 9562 §4.1)
    assert before <= made.int >> 80 <= after  # unix_ts_ms, the top 48 bits (§5.7)


def test_ids_sort_in_the_order_they_were_made_even_within_one_millisecond() -> None:
    made = [event_ids.new_event_id() for _ in range(20_000)]
    assert made == sorted(made)  # as strings too: fixed-width lowercase hex
    assert len(set(made)) == len(made)


def test_ids_stay_ordered_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = event_ids.new_event_id()
    monkeypatch.setattr(time, "time_ns", lambda: 0)  # 1970: far behind the last id
    later = [event_ids.new_event_id() for _ in range(100)]
    assert [first, *later] == sorted([first, *later])
    assert len({first, *later}) == 101
    assert {uuid.UUID(i).version for i in later} == {7}


def test_threads_making_ids_at_once_share_one_sequence() -> None:
    def make(_: int) -> list[str]:
        return [event_ids.new_event_id() for _ in range(2_000)]

    with ThreadPoolExecutor(4) as pool:
        chunks = list(pool.map(make, range(4)))
    for chunk in chunks:
        assert chunk == sorted(chunk)
    # Timestamp and counter (the first 64 bits but the version) never repeat across threads:
    # distinct ids alone would hold by rand_b's 62 random bits even without the lock.
    heads = [uuid.UUID(made_id).int >> 64 for chunk in chunks for made_id in chunk]
    assert len(set(heads)) == 8_000


def test_a_full_counter_carries_into_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 4_000_000_000_000 * 1_000_000)  # a fixed millisecond, far ahead
    monkeypatch.setattr(secrets, "randbits", lambda bits: (1 << bits) - 1)  # rand_a starts at 0xFFF
    first, second = (uuid.UUID(event_ids.new_event_id()) for _ in range(2))
    assert (first.int >> 80, (first.int >> 64) & 0xFFF) == (4_000_000_000_000, 0xFFF)
    assert (second.int >> 80, (second.int >> 64) & 0xFFF) == (4_000_000_000_001, 0)
    assert second.version == 7 and str(first) < str(second)


def test_commands_take_a_fresh_version_7_id_unless_given_one() -> None:
    built = commands.transfer(ORIGIN, "alice", "bob", "fi-biochar-1.2028.1.1-3")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", built["id"])
    assert validate_event(built).id == built["id"]  # the event schema admits it
    assert commands.transfer(ORIGIN, "alice", "bob", "fi-biochar-1.2028.1.1-3", event_id="retry-1")["id"] == "retry-1"
