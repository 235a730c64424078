"""A token bucket per signing key for ``POST /v1/events``.

Each key id has a bucket of ``burst`` tokens that refills at ``rate`` tokens per second. A
submission is refused (RFC 6585 §4, 429) before anything else is done if the bucket of any key
it names is empty (:meth:`WriteRateLimiter.check`); an event the registry then accepts takes one
token from each of its keys (:meth:`WriteRateLimiter.spend`).

Only accepted, new events spend: key ids are public (every entry of the log names them), so if
refused or replayed envelopes spent tokens, anyone could use up another's. For the same reason
checking never creates a bucket, so memory holds only keys that wrote; a bucket left alone long
enough to refill is dropped (it is the same as a new one), and beyond ``max_keys`` the least
recently used go first. Concurrent submissions may all pass the check and overspend a bucket;
it then goes into debt, and the key waits for it to refill.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_KEYS = 100_000


class RateLimitedError(Exception):
    """A key named by the request has no token left; ``retry_after`` is whole seconds to wait (≥ 1)."""

    code = "rate-limited"

    def __init__(self, keyid: str, retry_after: int) -> None:
        super().__init__(f"key {keyid} is over its write rate; retry after {retry_after} s")
        self.keyid = keyid
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    at: float
    """The clock reading when ``tokens`` was last brought up to date."""


class WriteRateLimiter:
    """Token buckets by key id; thread-safe.

    ``clock`` is a monotonic clock in seconds (injectable for tests). ``rate`` 0 disables the limit.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if rate < 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"rate must be ≥ 0, burst and max_keys ≥ 1; got {rate}, {burst}, {max_keys}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        """The number of buckets held (the memory the limiter uses)."""
        return len(self._buckets)

    def check(self, keyids: Iterable[str]) -> None:
        """Raise :class:`RateLimitedError` if any of the keys has no token; change nothing.

        ``retry_after`` is the whole seconds until the first such key has a token again.
        """
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            self._forget_idle(now)
            for keyid in dict.fromkeys(keyids):
                bucket = self._refilled(keyid, now)
                if bucket.tokens < 1:
                    raise RateLimitedError(keyid, max(1, math.ceil((1 - bucket.tokens) / self.rate)))

    def spend(self, keyids: Iterable[str]) -> None:
        """Take one token from the bucket of each key (into debt if another request spent it first)."""
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            for keyid in dict.fromkeys(keyids):
                bucket = self._refilled(keyid, now)
                bucket.tokens -= 1
                self._buckets[keyid] = bucket
                self._buckets.move_to_end(keyid)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)

    def _refilled(self, keyid: str, now: float) -> _Bucket:
        bucket = self._buckets.get(keyid)
        if bucket is None:
            return _Bucket(float(self.burst), now)
        return _Bucket(min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate), now)

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket. Buckets are in order of last use,
        # so the idle ones gather at the front (one in debt may hold the others back a while).
        while self._buckets:
            bucket = next(iter(self._buckets.values()))
            if bucket.tokens + (now - bucket.at) * self.rate < self.burst:
                return
            self._buckets.popitem(last=False)
