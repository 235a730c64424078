"""The cycle collector, set for a process that holds a loaded registry for its whole life."""

from __future__ import annotations

import gc

YOUNG_COLLECTION = 10_000
"""Net allocations between collections of the youngest generation (Python's default: 700)."""


def settle() -> None:
    """Set the collector for serving the registry loaded so far; call once, after loading.

    - What is loaded now (modules, caches, block indexes) lives as long as the process, so it
      is frozen out of every future collection: full collections would rescan it each time.
    - The youngest generation is collected every :data:`YOUNG_COLLECTION` net allocations.
      A batch of events allocates tens of thousands of objects that all live until it
      commits; at the default threshold the collector ran about fifty times a batch and
      promoted them all, for nothing (``scripts/bench_registry``: PostgreSQL transfers about
      5,300 → 6,500/s). The older generations keep their ratios, so cycles (an exception
      and its traceback) are still freed by full collections, only later.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, middle, old)
