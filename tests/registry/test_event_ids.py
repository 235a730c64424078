"""Fresh event ids are RFC 9562 version 7 UUIDs, in creation order, and admitted by the event schema."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from registry import commands, event_ids

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


def test_threads_making_ids_at_once_get_distinct_ids() -> None:
    def make(_: int) -> list[str]:
        return [event_ids.new_event_id() for _ in range(2_000)]

    with ThreadPoolExecutor(4) as pool:
        made = [made_id for chunk in pool.map(make, range(4)) for made_id in chunk]
    assert len(set(made)) == 8_000


def test_commands_take_a_fresh_version_7_id_unless_given_one() -> None:
    built = commands.transfer(ORIGIN, "alice", "bob", "P-2028-1-1-3")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", built["id"])
    assert commands.transfer(ORIGIN, "alice", "bob", "P-2028-1-1-3", event_id="retry-1")["id"] == "retry-1"
