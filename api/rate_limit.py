"""A token bucket per signing key for ``POST /v1/events``.

Each key id named in an envelope's ``signatures`` has a bucket of ``burst`` tokens that refills
at ``rate`` tokens per second. A submission takes one token from the bucket of every key it
names, and is refused (RFC 6585 §4, 429) if any of them is empty; a refused submission takes
nothing. Key ids are read before the signatures are verified, so memory is bounded twice: a
bucket left alone long enough to refill is dropped (it is the same as a new one), and beyond
``max_keys`` buckets the least recently used go first.
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
        self._idle = burst / rate if rate else 0.0
        """Seconds after which an untouched bucket is full again, hence forgettable."""
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        """The number of buckets held (the memory the limiter uses)."""
        return len(self._buckets)

    def take(self, keyids: Iterable[str]) -> None:
        """Take one token from the bucket of each key, all or none.

        Raises :class:`RateLimitedError` naming the first key that has no token left, with the
        seconds until it has one; then no bucket changes.
        """
        if not self.enabled:
            return
        wanted = list(dict.fromkeys(keyids))
        with self._lock:
            now = self._clock()
            self._forget_idle(now)
            buckets = [self._refilled(keyid, now) for keyid in wanted]
            for keyid, bucket in zip(wanted, buckets, strict=True):
                if bucket.tokens < 1:
                    raise RateLimitedError(keyid, max(1, math.ceil((1 - bucket.tokens) / self.rate)))
            for keyid, bucket in zip(wanted, buckets, strict=True):
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
        # Buckets are in order of last use, so the idle ones are at the front.
        while self._buckets:
            bucket = next(iter(self._buckets.values()))
            if now - bucket.at < self._idle:
                return
            self._buckets.popitem(last=False)
