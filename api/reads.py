"""Database reads of the JSON API: one worker-thread trip per request, on a thread of their own.

A read runs its query function with a connection that it opens and closes in that same trip,
in one snapshot (or, for holdings, each statement in its own: a one-query read then pays no
BEGIN and ROLLBACK), on ``REGISTRY_READ_THREADS``
threads (default 1) that only reads use. Python runs one thread at a time, and a thread gives
the interpreter up at every database call: with FastAPI's forty shared threads, each read
waited for the interpreter more than it read (holdings: 340 answers/s with a synchronous route
and dependency; 820/s on one such thread), and with one read thread the server answered more
holdings than with two on both databases (SQLite 1,210 against 1,075/s; PostgreSQL 1,042
against 966/s). Writes do not use them: a write awaits its group commit (registry.service,
registry.writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Connection, Engine

from ledger.database import statement_snapshots

P = ParamSpec("P")
T = TypeVar("T")


class Reads:
    """Runs read-only query functions ``query(conn, …)`` on the read threads."""

    def __init__(self, engine: Engine, threads: int) -> None:
        self._engine = engine
        self._count = threads
        self._threads: ThreadPoolExecutor | None = None  # made on first use, again after close

    async def __call__(self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``query(connection, *args, **kwargs)`` on a read thread, in one snapshot; its exceptions propagate."""
        return await self._run(lambda conn: query(conn, *args, **kwargs), each_statement=False)

    async def each_statement(
        self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like calling the reads, but each statement of ``query`` is a snapshot of its own
        (``statement_snapshots``): for a read of one statement, or whose statements may see
        different moments (holdings: an empty page and the account's total)."""
        return await self._run(lambda conn: query(conn, *args, **kwargs), each_statement=True)

    async def _run(self, read: Callable[[Connection], T], *, each_statement: bool) -> T:
        def run() -> T:
            with self._engine.connect() as conn:
                return read(statement_snapshots(conn) if each_statement else conn)

        if self._threads is None:
            self._threads = ThreadPoolExecutor(self._count, thread_name_prefix="read")
        return await asyncio.get_running_loop().run_in_executor(self._threads, run)

    def close(self) -> None:
        """Let the threads end once their reads are done (an app may be started again)."""
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None
