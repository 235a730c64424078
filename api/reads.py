"""Database reads of the JSON API: one worker-thread trip per request, on threads of their own.

A read runs its query function with a connection that it opens and closes in that same trip,
on a pool of ``REGISTRY_READ_THREADS`` threads (default 2) that only reads use. Python runs
one thread at a time, and a thread gives the interpreter up at every SQLite call: with
FastAPI's forty shared threads, each read waited for the interpreter more than it read
(holdings: 340 answers/s with a synchronous route and dependency; 820/s on one such thread).
Writes keep the shared threads, where they wait for their group commit without holding one
of these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Connection, Engine

P = ParamSpec("P")
T = TypeVar("T")


class Reads:
    """Runs read-only query functions ``query(conn, …)`` on the read threads."""

    def __init__(self, engine: Engine, threads: int) -> None:
        self._engine = engine
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="read")

    async def __call__(self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``query(connection, *args, **kwargs)`` on a read thread; its exceptions propagate."""

        def run() -> T:
            with self._engine.connect() as conn:
                return query(conn, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._threads, run)

    def close(self) -> None:
        self._threads.shutdown(wait=False)
